//! [`ModelFormat`] for the crate's layers, networks, score models and their compositions.
//!
//! Layers whose parameters go through their own [`Params`] code are written and read through a
//! stack buffer of nested arrays (`[[f32; D]; k]`, flattened), so that the bytes are exactly the
//! [`Params`] layout and every invariant is re-established by the layer's own `read_params`.

use super::{
    BAD_CONFIG, ModelFormat, ModelKind, REJECTED, Reader, UNSUPPORTED, WRONG_LAYERS, Writer,
};
use crate::error::Error;
use crate::flow::actnorm::ActNorm;
use crate::flow::coupling::{AdditiveCoupling, AffineCoupling, BinaryMask, DiagonalScaling};
use crate::flow::lu::LuLinear;
use crate::flow::maf::Maf;
use crate::flow::permute::Permutation;
use crate::flow::spline::{RationalQuadraticSpline, SplineCoupling, SplineElementwise};
use crate::flow::{Affine, Planar, Radial};
use crate::nn::{Activation, Dense, Mlp, Mlp2, Network, TimeEmbedding, TimeFeature};
use crate::params::Params;
use crate::score::net::{Conditioning, LinearScore, NoiseLevel, OutputScale, ScoreNet, SdeTime};
use crate::sde::{SubVp, Ve, Vp};

const TAG_AFFINE: u8 = 0x01;
const TAG_ACTNORM: u8 = 0x02;
const TAG_LU: u8 = 0x03;
const TAG_PERMUTATION: u8 = 0x04;
const TAG_DIAGONAL: u8 = 0x05;
const TAG_PLANAR: u8 = 0x06;
const TAG_RADIAL: u8 = 0x07;
const TAG_ADDITIVE: u8 = 0x08;
const TAG_AFFINE_COUPLING: u8 = 0x09;
const TAG_SPLINE_COUPLING: u8 = 0x0A;
const TAG_SPLINE: u8 = 0x0B;
const TAG_MAF: u8 = 0x0C;
const TAG_ARRAY: u8 = 0x20;
const TAG_TUPLE: u8 = 0x21;
const TAG_MLP: u8 = 0x30;
const TAG_SCORE_NET: u8 = 0x40;
const TAG_LINEAR_SCORE: u8 = 0x41;

/// Write a layer's parameters through `buf` (at least [`Params::LEN`] long).
fn write_leaf<P: Params>(layer: &P, buf: &mut [f32], w: &mut Writer<'_>) {
    match buf.get_mut(..P::LEN) {
        Some(b) => match layer.write_params(b) {
            Ok(()) => w.f32s(b),
            Err(e) => w.fail(e),
        },
        None => w.fail(UNSUPPORTED),
    }
}

/// Read [`Params::LEN`] parameters through `buf` into `layer` (built from the description).
fn read_leaf<P: Params>(mut layer: P, buf: &mut [f32], r: &mut Reader<'_>) -> Result<P, Error> {
    let b = buf.get_mut(..P::LEN).ok_or(UNSUPPORTED)?;
    r.params(b)?;
    layer.read_params(b).map_err(|_| REJECTED)?;
    Ok(layer)
}

fn write_flags(w: &mut Writer<'_>, flags: &[bool]) {
    for &f in flags {
        w.flag(f);
    }
}

fn read_flags<const D: usize>(r: &mut Reader<'_>) -> Result<[bool; D], Error> {
    let mut out = [false; D];
    for f in out.iter_mut() {
        *f = r.flag()?;
    }
    Ok(out)
}

fn write_indices(w: &mut Writer<'_>, idx: &[usize]) {
    for &i in idx {
        w.dim(i);
    }
}

fn read_indices<const D: usize>(r: &mut Reader<'_>) -> Result<[usize; D], Error> {
    let mut out = [0usize; D];
    for o in out.iter_mut() {
        *o = usize::try_from(r.u32()?).map_err(|_| BAD_CONFIG)?;
    }
    Ok(out)
}

fn read_mask<const D: usize>(r: &mut Reader<'_>) -> Result<BinaryMask<D>, Error> {
    BinaryMask::new(read_flags(r)?).map_err(|_| BAD_CONFIG)
}

fn activation_code(a: Activation) -> u8 {
    match a {
        Activation::Tanh => 0,
        Activation::Relu => 1,
        Activation::Silu => 2,
        Activation::Softplus => 3,
    }
}

fn read_activation(r: &mut Reader<'_>) -> Result<Activation, Error> {
    match r.u8()? {
        0 => Ok(Activation::Tanh),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::Silu),
        3 => Ok(Activation::Softplus),
        _ => Err(BAD_CONFIG),
    }
}

impl<const D: usize> ModelFormat for Affine<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_AFFINE);
        w.dim(D);
        write_flags(w, &self.negative());
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_leaf(self, [[0.0f32; D]; 2].as_flattened_mut(), w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_AFFINE)?;
        desc.expect_dim(D)?;
        let negative = read_flags::<D>(desc)?;
        let layer =
            Affine::from_log2_scale(negative, [0.0; D], [0.0; D]).map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, [[0.0f32; D]; 2].as_flattened_mut(), params)
    }
}

impl<const D: usize> ModelFormat for ActNorm<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_ACTNORM);
        w.dim(D);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_leaf(self, [[0.0f32; D]; 2].as_flattened_mut(), w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_ACTNORM)?;
        desc.expect_dim(D)?;
        let layer = ActNorm::new([0.0; D], [0.0; D]).map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, [[0.0f32; D]; 2].as_flattened_mut(), params)
    }
}

impl<const D: usize> ModelFormat for LuLinear<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_LU);
        w.dim(D);
        write_indices(w, self.permutation().indices());
        write_flags(w, &self.diag().map(|s| s < 0.0));
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_leaf(self, [[0.0f32; D]; D].as_flattened_mut(), w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_LU)?;
        desc.expect_dim(D)?;
        let perm = read_indices::<D>(desc)?;
        let negative = read_flags::<D>(desc)?;
        let zero = [[0.0f32; D]; D];
        let layer = LuLinear::from_log2_diag(perm, zero, zero, negative, [0.0; D])
            .map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, [[0.0f32; D]; D].as_flattened_mut(), params)
    }
}

impl<const D: usize> ModelFormat for Permutation<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_PERMUTATION);
        w.dim(D);
        write_indices(w, self.indices());
    }
    fn write_values(&self, _w: &mut Writer<'_>) {}
    fn read(desc: &mut Reader<'_>, _params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_PERMUTATION)?;
        desc.expect_dim(D)?;
        Permutation::new(read_indices::<D>(desc)?).map_err(|_| BAD_CONFIG)
    }
}

impl<const D: usize> ModelFormat for DiagonalScaling<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_DIAGONAL);
        w.dim(D);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_leaf(self, &mut [0.0f32; D], w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_DIAGONAL)?;
        desc.expect_dim(D)?;
        let layer = DiagonalScaling::new([0.0; D]).map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, &mut [0.0f32; D], params)
    }
}

impl<const D: usize> ModelFormat for Planar<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_PLANAR);
        w.dim(D);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        // 2D + 1 ≤ 3D for D ≥ 1 (D = 0 is UNSUPPORTED).
        write_leaf(self, [[0.0f32; D]; 3].as_flattened_mut(), w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_PLANAR)?;
        desc.expect_dim(D)?;
        let layer = Planar::new([0.0; D], [0.0; D], 0.0).map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, [[0.0f32; D]; 3].as_flattened_mut(), params)
    }
}

impl<const D: usize> ModelFormat for Radial<D> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_RADIAL);
        w.dim(D);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        // D + 2 ≤ 3D for D ≥ 1 (D = 0 is UNSUPPORTED).
        write_leaf(self, [[0.0f32; D]; 3].as_flattened_mut(), w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_RADIAL)?;
        desc.expect_dim(D)?;
        let layer = Radial::new([0.0; D], 0.0, 0.0).map_err(|_| BAD_CONFIG)?;
        read_leaf(layer, [[0.0f32; D]; 3].as_flattened_mut(), params)
    }
}

/// Write a dense layer: weight rows, then biases (its [`Params`] layout).
fn write_dense<const I: usize, const O: usize>(d: &Dense<I, O>, w: &mut Writer<'_>) {
    for row in d.weight() {
        w.f32s(row);
    }
    w.f32s(d.bias());
}

fn read_dense<const I: usize, const O: usize>(r: &mut Reader<'_>) -> Result<Dense<I, O>, Error> {
    let mut weight = [[0.0f32; I]; O];
    r.params(weight.as_flattened_mut())?;
    let mut bias = [0.0f32; O];
    r.params(&mut bias)?;
    Dense::from_params(weight, bias).map_err(|_| REJECTED)
}

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> ModelFormat
    for Mlp<IN, H, OUT, EXTRA>
{
    const KIND: ModelKind = ModelKind::Network;
    const DIM: usize = IN;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_MLP);
        w.dim(IN);
        w.dim(H);
        w.dim(OUT);
        w.dim(EXTRA);
        w.u8(activation_code(self.activation));
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_dense(&self.input, w);
        for h in &self.hidden {
            write_dense(h, w);
        }
        write_dense(&self.output, w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_MLP)?;
        desc.expect_dim(IN)?;
        desc.expect_dim(H)?;
        desc.expect_dim(OUT)?;
        // The depth is part of the layer list.
        desc.expect_u32(EXTRA, WRONG_LAYERS)?;
        let activation = read_activation(desc)?;
        let input = read_dense(params)?;
        let zero = Dense::from_params([[0.0; H]; H], [0.0; H]).map_err(|_| REJECTED)?;
        let mut hidden = [zero; EXTRA];
        for h in hidden.iter_mut() {
            *h = read_dense(params)?;
        }
        let output = read_dense(params)?;
        Ok(Mlp::new(activation, input, hidden, output))
    }
    fn read_into(&mut self, desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<(), Error> {
        desc.expect_tag(TAG_MLP)?;
        desc.expect_dim(IN)?;
        desc.expect_dim(H)?;
        desc.expect_dim(OUT)?;
        desc.expect_u32(EXTRA, WRONG_LAYERS)?;
        self.activation = read_activation(desc)?;
        read_dense_into(&mut self.input, params)?;
        for h in self.hidden.iter_mut() {
            read_dense_into(h, params)?;
        }
        read_dense_into(&mut self.output, params)
    }
}

/// [`read_dense`] into `d` in place (each value checked finite before it is written).
fn read_dense_into<const I: usize, const O: usize>(
    d: &mut Dense<I, O>,
    r: &mut Reader<'_>,
) -> Result<(), Error> {
    let (weight, bias) = d.parts_mut();
    r.params(weight.as_flattened_mut())?;
    r.params(bias)
}

impl<const D: usize, const O: usize, C: ModelFormat + Network<D, O>> ModelFormat
    for AdditiveCoupling<D, O, C>
{
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_ADDITIVE);
        w.dim(D);
        w.dim(O);
        write_flags(w, self.mask().keep());
        self.net().describe(w);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        self.net().write_values(w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_ADDITIVE)?;
        desc.expect_dim(D)?;
        desc.expect_dim(O)?;
        let mask = read_mask::<D>(desc)?;
        let net = C::read(desc, params)?;
        AdditiveCoupling::new(mask, net).map_err(|_| BAD_CONFIG)
    }
}

impl<const D: usize, const O: usize, C: ModelFormat + Network<D, O>> ModelFormat
    for AffineCoupling<D, O, C>
{
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_AFFINE_COUPLING);
        w.dim(D);
        w.dim(O);
        write_flags(w, self.mask().keep());
        self.net().describe(w);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        self.net().write_values(w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_AFFINE_COUPLING)?;
        desc.expect_dim(D)?;
        desc.expect_dim(O)?;
        let mask = read_mask::<D>(desc)?;
        let net = C::read(desc, params)?;
        AffineCoupling::new(mask, net).map_err(|_| BAD_CONFIG)
    }
}

impl<const D: usize, const K: usize, const O: usize, C: ModelFormat + Network<D, O>> ModelFormat
    for SplineCoupling<D, K, O, C>
{
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_SPLINE_COUPLING);
        w.dim(D);
        w.dim(K);
        w.dim(O);
        w.f32(self.bound());
        write_flags(w, self.mask().keep());
        self.net().describe(w);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        self.net().write_values(w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_SPLINE_COUPLING)?;
        desc.expect_dim(D)?;
        desc.expect_dim(K)?;
        desc.expect_dim(O)?;
        let bound = desc.f32()?;
        let mask = read_mask::<D>(desc)?;
        let net = C::read(desc, params)?;
        SplineCoupling::new(mask, bound, net).map_err(|_| BAD_CONFIG)
    }
}

impl<const D: usize, const K: usize> ModelFormat for SplineElementwise<D, K> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_SPLINE);
        w.dim(D);
        w.dim(K);
        for s in self.splines() {
            for k in 0..=K {
                let (x, y, d) = s.knot(k).unwrap_or((0.0, 0.0, 0.0));
                w.f32(x);
                w.f32(y);
                w.f32(d);
            }
        }
    }
    fn write_values(&self, _w: &mut Writer<'_>) {}
    fn read(desc: &mut Reader<'_>, _params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_SPLINE)?;
        desc.expect_dim(D)?;
        desc.expect_dim(K)?;
        // K + 1 knots fit in 2K slots for K ≥ 1 (every spline has K ≥ 1).
        let mut splines = [None::<RationalQuadraticSpline<K>>; D];
        for s in splines.iter_mut() {
            let mut xs = [[0.0f32; K]; 2];
            let mut ys = [[0.0f32; K]; 2];
            let mut ds = [[0.0f32; K]; 2];
            let (xs, ys, ds) =
                (xs.as_flattened_mut(), ys.as_flattened_mut(), ds.as_flattened_mut());
            let n = K + 1;
            let (xs, ys, ds) = match (xs.get_mut(..n), ys.get_mut(..n), ds.get_mut(..n)) {
                (Some(x), Some(y), Some(d)) => (x, y, d),
                _ => return Err(UNSUPPORTED),
            };
            for ((x, y), d) in xs.iter_mut().zip(ys.iter_mut()).zip(ds.iter_mut()) {
                *x = desc.f32()?;
                *y = desc.f32()?;
                *d = desc.f32()?;
            }
            *s = Some(RationalQuadraticSpline::from_knots(xs, ys, ds).map_err(|_| BAD_CONFIG)?);
        }
        Ok(SplineElementwise::new(collect(splines)?))
    }
}

impl<const D: usize, const H: usize, const O: usize> ModelFormat for Maf<D, H, O> {
    const KIND: ModelKind = ModelKind::Flow;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_MAF);
        w.dim(D);
        w.dim(H);
        w.dim(O);
        self.made().describe(w);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        self.made().write_values(w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_MAF)?;
        desc.expect_dim(D)?;
        desc.expect_dim(H)?;
        desc.expect_dim(O)?;
        let net = Mlp2::<D, H, O>::read(desc, params)?;
        // The MADE masks are re-applied, as `read_params` does.
        Ok(Maf::new(net))
    }
    fn read_into(&mut self, desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<(), Error> {
        desc.expect_tag(TAG_MAF)?;
        desc.expect_dim(D)?;
        desc.expect_dim(H)?;
        desc.expect_dim(O)?;
        let r = self.made_mut().read_into(desc, params);
        // Masked weights read as 0 whatever the file holds, on success and on error alike.
        self.apply_masks();
        r
    }
}

impl<P: ModelFormat, const K: usize> ModelFormat for [P; K] {
    const KIND: ModelKind = P::KIND;
    const DIM: usize = P::DIM;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_ARRAY);
        w.dim(K);
        for p in self {
            p.describe(w);
        }
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        for p in self {
            p.write_values(w);
        }
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_ARRAY)?;
        desc.expect_u32(K, WRONG_LAYERS)?;
        let mut out = [None::<P>; K];
        for o in out.iter_mut() {
            *o = Some(P::read(desc, params)?);
        }
        collect(out)
    }
    fn read_into(&mut self, desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<(), Error> {
        desc.expect_tag(TAG_ARRAY)?;
        desc.expect_u32(K, WRONG_LAYERS)?;
        for p in self.iter_mut() {
            p.read_into(desc, params)?;
        }
        Ok(())
    }
}

/// The array of the read items: every entry is `Some` after a loop that returns on the first
/// error; K = 0 gives the empty array.
fn collect<P: Copy, const K: usize>(items: [Option<P>; K]) -> Result<[P; K], Error> {
    match items.iter().flatten().next() {
        Some(&fill) => Ok(items.map(|p| p.unwrap_or(fill))),
        None => <[P; K]>::try_from(&[][..]).map_err(|_| UNSUPPORTED),
    }
}

/// `impl ModelFormat` for a tuple: the members one after another; kind and D of the first.
macro_rules! tuple_format {
    ($first:ident $($t:ident)*) => {
        impl<$first: ModelFormat, $($t: ModelFormat),*> ModelFormat for ($first, $($t,)*) {
            const KIND: ModelKind = $first::KIND;
            const DIM: usize = $first::DIM;

            #[allow(non_snake_case)]
            fn describe(&self, w: &mut Writer<'_>) {
                let ($first, $($t,)*) = self;
                w.u8(TAG_TUPLE);
                w.dim([stringify!($first), $(stringify!($t)),*].len());
                $first.describe(w);
                $($t.describe(w);)*
            }

            #[allow(non_snake_case)]
            fn write_values(&self, w: &mut Writer<'_>) {
                let ($first, $($t,)*) = self;
                $first.write_values(w);
                $($t.write_values(w);)*
            }

            fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
                desc.expect_tag(TAG_TUPLE)?;
                desc.expect_u32([stringify!($first), $(stringify!($t)),*].len(), WRONG_LAYERS)?;
                Ok(($first::read(desc, params)?, $($t::read(desc, params)?,)*))
            }

            #[allow(non_snake_case)]
            fn read_into(
                &mut self,
                desc: &mut Reader<'_>,
                params: &mut Reader<'_>,
            ) -> Result<(), Error> {
                desc.expect_tag(TAG_TUPLE)?;
                desc.expect_u32([stringify!($first), $(stringify!($t)),*].len(), WRONG_LAYERS)?;
                let ($first, $($t,)*) = self;
                $first.read_into(desc, params)?;
                $($t.read_into(desc, params)?;)*
                Ok(())
            }
        }
    };
}

tuple_format!(A);
tuple_format!(A B);
tuple_format!(A B C);
tuple_format!(A B C E);
tuple_format!(A B C E F);
tuple_format!(A B C E F G);
tuple_format!(A B C E F G H);
tuple_format!(A B C E F G H I);

/// A score network's conditioning as it is stored: a kind byte (0 noise level, 1 VE, 2 VP,
/// 3 sub-VP) and two `f32` parameters.
pub trait ConditioningFormat: Conditioning + Sized {
    /// Write the kind byte and the two parameters.
    fn describe(&self, w: &mut Writer<'_>);
    /// Read them back, checking the kind ([`WRONG_LAYERS`](super::WRONG_LAYERS) for another)
    /// and validating the parameters ([`BAD_CONFIG`](super::BAD_CONFIG)).
    fn read(desc: &mut Reader<'_>) -> Result<Self, Error>;
}

fn read_conditioning(r: &mut Reader<'_>, kind: u8) -> Result<(f32, f32), Error> {
    let k = r.u8()?;
    let a = r.f32()?;
    let b = r.f32()?;
    if k == kind { Ok((a, b)) } else { Err(WRONG_LAYERS) }
}

impl ConditioningFormat for NoiseLevel {
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(0);
        w.f32(0.0);
        w.f32(0.0);
    }
    fn read(desc: &mut Reader<'_>) -> Result<Self, Error> {
        let (a, b) = read_conditioning(desc, 0)?;
        if a.to_bits() == 0 && b.to_bits() == 0 { Ok(NoiseLevel) } else { Err(BAD_CONFIG) }
    }
}

impl ConditioningFormat for SdeTime<Ve> {
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(1);
        w.f32(self.0.sigma_min());
        w.f32(self.0.sigma_max());
    }
    fn read(desc: &mut Reader<'_>) -> Result<Self, Error> {
        let (a, b) = read_conditioning(desc, 1)?;
        Ve::new(a, b).map(SdeTime).map_err(|_| BAD_CONFIG)
    }
}

impl ConditioningFormat for SdeTime<Vp> {
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(2);
        w.f32(self.0.beta_min());
        w.f32(self.0.beta_max());
    }
    fn read(desc: &mut Reader<'_>) -> Result<Self, Error> {
        let (a, b) = read_conditioning(desc, 2)?;
        Vp::new(a, b).map(SdeTime).map_err(|_| BAD_CONFIG)
    }
}

impl ConditioningFormat for SdeTime<SubVp> {
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(3);
        w.f32(self.0.beta_min());
        w.f32(self.0.beta_max());
    }
    fn read(desc: &mut Reader<'_>) -> Result<Self, Error> {
        let (a, b) = read_conditioning(desc, 3)?;
        SubVp::new(a, b).map(SdeTime).map_err(|_| BAD_CONFIG)
    }
}

fn describe_embedding<const F: usize>(e: &TimeEmbedding<F>, w: &mut Writer<'_>) {
    match e.feature() {
        TimeFeature::Time { scale } => {
            w.u8(0);
            w.f32(scale);
        }
        TimeFeature::LogSigma => {
            w.u8(1);
            w.f32(0.0);
        }
    }
    w.f32s(e.freqs());
}

fn read_embedding<const F: usize>(r: &mut Reader<'_>) -> Result<TimeEmbedding<F>, Error> {
    let kind = r.u8()?;
    let scale = r.f32()?;
    let feature = match kind {
        0 => TimeFeature::Time { scale },
        1 if scale.to_bits() == 0 => TimeFeature::LogSigma,
        _ => return Err(BAD_CONFIG),
    };
    let mut freqs = [0.0f32; F];
    for f in freqs.iter_mut() {
        *f = r.f32()?;
    }
    TimeEmbedding::new(freqs, feature).map_err(|_| BAD_CONFIG)
}

impl<
    C: ConditioningFormat,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> ModelFormat for ScoreNet<C, D, F, IN, H, EXTRA>
{
    const KIND: ModelKind = ModelKind::Score;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_SCORE_NET);
        w.dim(D);
        w.dim(F);
        self.conditioning.describe(w);
        w.u8(match self.output {
            OutputScale::InverseSigma => 0,
            OutputScale::Unscaled => 1,
        });
        describe_embedding(&self.embedding, w);
        self.net.describe(w);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        self.net.write_values(w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        let (conditioning, output, embedding) = read_score_head::<C, D, F>(desc)?;
        let net = Mlp::<IN, H, D, EXTRA>::read(desc, params)?;
        Ok(ScoreNet::new(net, embedding, conditioning, output))
    }
    /// The conditioning, output scale and embedding (small) read as values, the network in
    /// place, item by item (no copy of its weights on the stack).
    fn read_into(&mut self, desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<(), Error> {
        let (conditioning, output, embedding) = read_score_head::<C, D, F>(desc)?;
        self.net.read_into(desc, params)?;
        self.conditioning = conditioning;
        self.output = output;
        self.embedding = embedding;
        Ok(())
    }
}

/// A score network's description before its network: tag, D, F, conditioning, output scale,
/// embedding.
fn read_score_head<C: ConditioningFormat, const D: usize, const F: usize>(
    desc: &mut Reader<'_>,
) -> Result<(C, OutputScale, TimeEmbedding<F>), Error> {
    desc.expect_tag(TAG_SCORE_NET)?;
    desc.expect_dim(D)?;
    desc.expect_dim(F)?;
    let conditioning = C::read(desc)?;
    let output = match desc.u8()? {
        0 => OutputScale::InverseSigma,
        1 => OutputScale::Unscaled,
        _ => return Err(BAD_CONFIG),
    };
    let embedding = read_embedding::<F>(desc)?;
    Ok((conditioning, output, embedding))
}

impl<const D: usize> ModelFormat for LinearScore<D> {
    const KIND: ModelKind = ModelKind::Score;
    const DIM: usize = D;
    fn describe(&self, w: &mut Writer<'_>) {
        w.u8(TAG_LINEAR_SCORE);
        w.dim(D);
    }
    fn write_values(&self, w: &mut Writer<'_>) {
        write_dense(&self.map, w);
    }
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error> {
        desc.expect_tag(TAG_LINEAR_SCORE)?;
        desc.expect_dim(D)?;
        Ok(LinearScore { map: read_dense(params)? })
    }
}
