//! Model files (core `format`): write → load round trips give the identical model (parameters
//! bit for bit, the same forward evaluation) for the flow zoo and the score networks; every
//! corruption class gives its own error; every single-byte change and every truncation of a
//! file is detected; a file of one type loaded as another is refused; the streamed checksum is
//! the stored one, and a model built at compile time (a `static`) is the run-time model. Also checks that the fuzz
//! seed corpus (`fuzz/corpus/model_load/`) still loads (`FLOWSCORE_WRITE_CORPUS=1` rewrites it).

use std::fmt::Debug;

use flowscore::Error;
use flowscore::dist::StandardNormal;
use flowscore::flow::coupling::{AdditiveCoupling, AffineCoupling, BinaryMask, DiagonalScaling};
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::spline::{RationalQuadraticSpline, SplineCoupling, SplineElementwise};
use flowscore::flow::{Affine, Bijector, Flow, Planar};
use flowscore::format::{
    self, ModelFormat, Standardize, checksum, encoded_len, load, load_into, save,
};
use flowscore::nn::{Activation, Dense, Mlp, Mlp1, Mlp2, TimeEmbedding, TimeFeature};
use flowscore::params::Params;
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::{NoiseLevel, OutputScale, ScoreModel, ScoreNet, SdeTime};
use flowscore::sde::{SubVp, Ve, Vp};

#[path = "../fuzz/fuzz_targets/models.rs"]
#[allow(dead_code)]
mod fuzz_models;

type RealNvp = [AffineCoupling<2, 2, Mlp2<2, 64, 2>>; 4];
type SplineStack = [SplineCoupling<2, 8, 23, Mlp2<2, 64, 23>>; 4];
type MafStack = (Maf<3, 32, 6>, Permutation<3>, Maf<3, 32, 6>);
type PlanarStack = [Planar<2>; 8];
type VeNet = ScoreNet<SdeTime<Ve>, 2, 8, 18, 32, 1>;
type VpNet = ScoreNet<SdeTime<Vp>, 2, 8, 18, 32, 1>;
type SubVpNet = ScoreNet<SdeTime<SubVp>, 2, 8, 18, 32, 1>;
type NcsnNet = ScoreNet<NoiseLevel, 2, 8, 18, 32, 0>;
/// A small file for the byte-flip and truncation sweeps.
type Tiny = (Affine<2>, AdditiveCoupling<2, 1, Mlp1<2, 3, 1>>, DiagonalScaling<2>);

fn realnvp() -> RealNvp {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        AffineCoupling::new(mask, Mlp2::init(Activation::Tanh, 100 + i as u64)).unwrap()
    })
}

fn spline_stack() -> SplineStack {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        SplineCoupling::new(mask, 3.0, Mlp2::init(Activation::Tanh, 200 + i as u64)).unwrap()
    })
}

fn maf_stack() -> MafStack {
    (
        Maf::new(Mlp2::init(Activation::Relu, 1)),
        Permutation::seeded(2),
        Maf::new(Mlp2::init(Activation::Relu, 3)),
    )
}

fn planar_stack() -> PlanarStack {
    let mut rng = Streams::<f32>::new(11, 0);
    core::array::from_fn(|_| {
        let u = [rng.normal(), rng.normal()];
        let w = [rng.normal(), rng.normal()];
        Planar::new(u, w, 0.5 * rng.normal()).unwrap()
    })
}

fn score_net<C: Copy + flowscore::score::Conditioning, const E: usize>(
    c: C,
    feature: TimeFeature,
    output: OutputScale,
) -> ScoreNet<C, 2, 8, 18, 32, E> {
    let emb = TimeEmbedding::fourier(16.0, feature, 9).unwrap();
    ScoreNet::init(Activation::Silu, emb, c, output, 10)
}

fn tiny() -> Tiny {
    (
        Affine::new([2.0, -0.5], [0.25, 1.0]).unwrap(),
        AdditiveCoupling::new(
            BinaryMask::new([true, false]).unwrap(),
            Mlp1::init(Activation::Tanh, 4),
        )
        .unwrap(),
        DiagonalScaling::new([0.1, -0.3]).unwrap(),
    )
}

fn std2() -> Standardize<2> {
    Standardize::new([1.5, -2.0], [3.0, 0.125]).unwrap()
}

fn write<M: ModelFormat, const D: usize>(m: &M, s: &Standardize<D>) -> Vec<u8> {
    let n = encoded_len(m, s).unwrap();
    let mut buf = vec![0xAAu8; n + 3];
    assert_eq!(save(m, s, &mut buf).unwrap(), n);
    assert!(buf[n..].iter().all(|&b| b == 0xAA), "save wrote past its length");
    buf.truncate(n);
    let mut short = vec![0u8; n - 1];
    assert_eq!(save(m, s, &mut short), Err(format::BUFFER_TOO_SMALL));
    assert!(short.iter().all(|&b| b == 0), "a failed save wrote into the buffer");
    buf
}

fn param_bits<M: Params>(m: &M) -> Vec<u32> {
    let mut p = vec![0.0f32; M::LEN];
    m.write_params(&mut p).unwrap();
    p.iter().map(|v| v.to_bits()).collect()
}

/// Write, load, and check: the same value, bit-identical parameters and standardisation, the
/// same bytes when written again. Returns the file and the loaded model.
fn round_trip<M: ModelFormat + PartialEq + Debug, const D: usize>(
    m: &M,
    s: &Standardize<D>,
) -> (Vec<u8>, M) {
    let bytes = write(m, s);
    let (back, s2) = load::<M, D>(&bytes).unwrap();
    assert_eq!(param_bits(&back), param_bits(m));
    assert_eq!(&back, m);
    assert_eq!(
        s2.shift()
            .map(f32::to_bits)
            .iter()
            .chain(s2.scale().map(f32::to_bits).iter())
            .collect::<Vec<_>>(),
        s.shift()
            .map(f32::to_bits)
            .iter()
            .chain(s.scale().map(f32::to_bits).iter())
            .collect::<Vec<_>>()
    );
    assert_eq!(write(&back, &s2), bytes);
    // In place, into a model of the same type whose every parameter differs: the same model.
    let mut into = perturbed(m);
    let s3 = load_into::<M, D>(&bytes, &mut into).unwrap();
    assert_eq!(param_bits(&into), param_bits(m));
    assert_eq!(&into, m);
    assert_eq!(write(&into, &s3), bytes);
    // The streamed checksum is the one the file stores (the CRC-32 of every byte before it),
    // and it changes with any parameter or the standardisation.
    let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(format::checksum_of(m, s), Ok(stored));
    assert_eq!(stored, checksum(&bytes[..bytes.len() - 4]));
    if M::LEN > 0 {
        assert_ne!(format::checksum_of(&perturbed(m), s), Ok(stored), "a parameter changed");
    }
    let mut shift = *s.shift();
    shift[0] = f32::from_bits(shift[0].to_bits() ^ 1);
    let s4 = Standardize::new(shift, *s.scale()).unwrap();
    assert_ne!(format::checksum_of(m, &s4), Ok(stored), "the standardisation changed");
    (bytes, back)
}

/// `load_into` agrees with `load` on `bytes`, starting from `start`: the same error, or the same
/// model; a file refused before the description (every header, length, checksum, dimension,
/// count and standardisation error) leaves the target bit for bit as it was.
fn into_agrees<M: ModelFormat + PartialEq + Debug, const D: usize>(bytes: &[u8], start: &M) {
    let mut into = *start;
    match (load::<M, D>(bytes), load_into::<M, D>(bytes, &mut into)) {
        (Ok((m, s)), Ok(s2)) => {
            assert_eq!(param_bits(&into), param_bits(&m));
            assert_eq!(into, m);
            assert_eq!(write(&into, &s2), write(&m, &s));
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            let before_description = [
                format::TRUNCATED,
                format::TRAILING,
                format::BAD_MAGIC,
                format::BAD_VERSION,
                format::WRONG_KIND,
                format::BAD_RESERVED,
                format::BAD_CHECKSUM,
                format::WRONG_DIM,
                format::WRONG_PARAM_COUNT,
                format::BAD_STANDARDIZE,
            ];
            if before_description.contains(&a) {
                assert_eq!(param_bits(&into), param_bits(start), "{a}: the target changed");
                assert_eq!(&into, start, "{a}: the target changed");
            }
        }
        (a, b) => panic!("load {:?} vs load_into {:?}", a.map(|_| ()), b),
    }
}

/// `m` with every parameter changed (its configuration kept): a target that differs from the
/// file everywhere a load writes.
fn perturbed<M: Params>(m: &M) -> M {
    let mut out = *m;
    let mut p = vec![0.0f32; M::LEN];
    m.write_params(&mut p).unwrap();
    for v in &mut p {
        *v = *v * 0.5 + 0.25;
    }
    out.read_params(&p).unwrap();
    out
}

/// Every single-byte change (two per byte, resealed so that it reaches the item checks) and
/// every truncation of a MAF stack's and a small chain's files: `load_into` gives what `load` gives.
/// After a refusal a MAF target is still autoregressive: its masked weights are 0, so z_i does
/// not depend on the inputs after x_i.
#[test]
fn load_into_agrees_with_load_on_every_edit() {
    fn check<M: ModelFormat + PartialEq + Debug, const D: usize>(m: &M, s: &Standardize<D>) {
        let bytes = write(m, s);
        let start = perturbed(m);
        assert_ne!(param_bits(&start), param_bits(m));
        for at in 0..bytes.len() - 4 {
            for x in [0x01u8, 0xFF] {
                let mut g = bytes.clone();
                g[at] ^= x;
                // Unsealed: refused by the checksum (checked on every 61st byte and the header).
                if at < 64 || at % 61 == 0 {
                    into_agrees::<M, D>(&g, &start);
                }
                reseal(&mut g);
                into_agrees::<M, D>(&g, &start);
            }
        }
        for n in 0..bytes.len() {
            into_agrees::<M, D>(&bytes[..n], &start);
        }
        let mut long = bytes.clone();
        long.push(0);
        into_agrees::<M, D>(&long, &start);
    }
    check(&tiny(), &std2());
    let s3 = Standardize::new([0.5, 1.0, -1.0], [2.0, 1.0, 0.5]).unwrap();
    check(&maf_stack(), &s3);
    // The configuration is read in place too: a target with another permutation gets the file's.
    let m = maf_stack();
    let other = [[1, 2, 0], [2, 0, 1]]
        .map(|p| Permutation::new(p).unwrap())
        .into_iter()
        .find(|p| *p != m.1)
        .unwrap();
    let start = (perturbed(&m.0), other, perturbed(&m.2));
    let mut into = start;
    load_into::<MafStack, 3>(&write(&m, &s3), &mut into).unwrap();
    assert_eq!(into, m);

    // A failed in-place load of a MAF: a file whose last weight is NaN (refused after every
    // other weight was read), with non-zero values written into every weight position.
    type One = Maf<3, 32, 6>;
    let m: One = Maf::new(Mlp2::init(Activation::Tanh, 5));
    let s = Standardize::new([0.0; 3], [1.0; 3]).unwrap();
    let bytes = write(&m, &s);
    let at = params_at(&bytes);
    let mut g = bytes.clone();
    for k in 0..One::LEN {
        g[at + 4 * k..at + 4 * k + 4].copy_from_slice(&0.75f32.to_le_bytes());
    }
    g[at + 4 * (One::LEN - 1)..at + 4 * One::LEN].copy_from_slice(&f32::NAN.to_le_bytes());
    reseal(&mut g);
    let mut into = m;
    assert_eq!(load_into::<One, 3>(&g, &mut into), Err(format::NON_FINITE));
    let x = [0.3f64, -0.7, 1.1];
    let (z, _) = into.inverse(x).unwrap();
    for i in 0..3 {
        // Changing the inputs after x_i leaves z_i as it is: the masks hold.
        let mut y = x;
        for v in y.iter_mut().skip(i + 1) {
            *v += 0.5;
        }
        let (z2, _) = into.inverse(y).unwrap();
        assert_eq!(z2[i].to_bits(), z[i].to_bits(), "z_{i} depends on later inputs");
    }
}

fn points<const D: usize>() -> Vec<[f32; D]> {
    let mut rng = Streams::<f32>::new(5, 0);
    (0..64).map(|_| core::array::from_fn(|_| 1.5 * rng.normal())).collect()
}

fn same_flow<B: Bijector<D>, const D: usize>(a: &B, b: &B, inverse: bool) {
    for z in points::<D>() {
        let (xa, la) = a.forward(z);
        let (xb, lb) = b.forward(z);
        assert_eq!(xa.map(f32::to_bits), xb.map(f32::to_bits));
        assert_eq!(la.to_bits(), lb.to_bits());
        if inverse {
            let (za, la) = a.inverse(z).unwrap();
            let (zb, lb) = b.inverse(z).unwrap();
            assert_eq!(za.map(f32::to_bits), zb.map(f32::to_bits));
            assert_eq!(la.to_bits(), lb.to_bits());
        }
    }
}

fn same_score<S: ScoreModel<2>>(a: &S, b: &S) {
    for (k, x) in points::<2>().into_iter().enumerate() {
        let t = 0.01 + 0.015 * k as f32;
        assert_eq!(a.score(&x, t).map(f32::to_bits), b.score(&x, t).map(f32::to_bits));
    }
}

#[test]
fn realnvp_round_trip() {
    let m = realnvp();
    let (bytes, back) = round_trip(&m, &std2());
    same_flow(&m, &back, true);
    assert_eq!(bytes.len(), encoded_len(&m, &std2()).unwrap());
}

#[test]
fn spline_stack_round_trip() {
    let m = spline_stack();
    let (_, back) = round_trip(&m, &std2());
    same_flow(&m, &back, true);
}

#[test]
fn maf_round_trip() {
    let m = maf_stack();
    let s = Standardize::new([0.0, 1.0, 2.0], [1.0, 2.0, 4.0]).unwrap();
    let (_, back) = round_trip(&m, &s);
    same_flow(&m, &back, true);
}

#[test]
fn planar_round_trip() {
    let m = planar_stack();
    let (_, back) = round_trip(&m, &Standardize::<2>::identity());
    same_flow(&m, &back, false);
}

#[test]
fn score_net_round_trips() {
    let t = TimeFeature::Time { scale: 1.0 };
    let ve: VeNet =
        score_net(SdeTime(Ve::default()), TimeFeature::LogSigma, OutputScale::InverseSigma);
    let vp: VpNet = score_net(SdeTime(Vp::new(0.05, 15.0).unwrap()), t, OutputScale::InverseSigma);
    let sub: SubVpNet = score_net(SdeTime(SubVp::default()), t, OutputScale::Unscaled);
    let ncsn: NcsnNet = score_net(NoiseLevel, TimeFeature::LogSigma, OutputScale::InverseSigma);
    same_score(&ve, &round_trip(&ve, &std2()).1);
    same_score(&vp, &round_trip(&vp, &std2()).1);
    same_score(&sub, &round_trip(&sub, &std2()).1);
    same_score(&ncsn, &round_trip(&ncsn, &std2()).1);
    let sin = ScoreNet::init(
        Activation::Tanh,
        TimeEmbedding::<8>::sinusoidal(),
        SdeTime(Vp::default()),
        OutputScale::InverseSigma,
        3,
    );
    let _: VpNet = sin;
    same_score(&sin, &round_trip(&sin, &std2()).1);
}

#[test]
fn other_layers_round_trip() {
    let (_, back) = round_trip(&tiny(), &std2());
    same_flow(&tiny(), &back, true);
    let m = fuzz_models::mixed();
    let (_, back) = round_trip(&m, &std2());
    same_flow(&m, &back, false);
    let knots = RationalQuadraticSpline::<3>::from_knots(
        &[-2.0, -0.5, 0.5, 2.0],
        &[-2.0, -1.0, 1.5, 2.0],
        &[1.0, 0.5, 2.0, 1.0],
    )
    .unwrap();
    let m = (SplineElementwise::<2, 3>::new([knots; 2]), Permutation::<2>::reverse());
    let (_, back) = round_trip(&m, &std2());
    same_flow(&m, &back, true);
}

/// Replace the CRC-32 at the end of a file with the one of its new contents.
fn reseal(f: &mut [u8]) {
    let n = f.len() - 4;
    let crc = checksum(&f[..n]).to_le_bytes();
    f[n..].copy_from_slice(&crc);
}

/// Offset of the parameters: 20 + L + 8D.
fn params_at(f: &[u8]) -> usize {
    let l = u32::from_le_bytes(f[12..16].try_into().unwrap()) as usize;
    let d = u32::from_le_bytes(f[8..12].try_into().unwrap()) as usize;
    20 + l + 8 * d
}

fn edited(f: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut g = f.to_vec();
    g[at..at + bytes.len()].copy_from_slice(bytes);
    reseal(&mut g);
    g
}

fn err<M: ModelFormat, const D: usize>(bytes: &[u8]) -> Error {
    load::<M, D>(bytes).err().expect("expected an error")
}

#[test]
fn each_corruption_class_has_its_error() {
    let f = write(&tiny(), &std2());
    load::<Tiny, 2>(&f).unwrap();
    let p = params_at(&f);

    let mut g = f.clone();
    g[0] = b'X';
    assert_eq!(err::<Tiny, 2>(&g), format::BAD_MAGIC);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 4, &2u16.to_le_bytes())), format::BAD_VERSION);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 7, &[1])), format::BAD_RESERVED);
    let mut g = f.clone();
    g[p] ^= 0x10;
    assert_eq!(err::<Tiny, 2>(&g), format::BAD_CHECKSUM);
    assert_eq!(err::<Tiny, 2>(&f[..f.len() - 1]), format::TRUNCATED);
    assert_eq!(err::<Tiny, 2>(&f[..3]), format::TRUNCATED);
    let mut g = f.clone();
    g.push(0);
    assert_eq!(err::<Tiny, 2>(&g), format::TRAILING);

    // Parameters: the first of the affine layer's log₂-scales.
    assert_eq!(err::<Tiny, 2>(&edited(&f, p, &f32::NAN.to_le_bytes())), format::NON_FINITE);
    assert_eq!(err::<Tiny, 2>(&edited(&f, p, &f32::INFINITY.to_le_bytes())), format::NON_FINITE);
    assert_eq!(err::<Tiny, 2>(&edited(&f, p, &500.0f32.to_le_bytes())), format::REJECTED);
    // Standardisation: the first scale.
    assert_eq!(err::<Tiny, 2>(&edited(&f, p - 8, &0.0f32.to_le_bytes())), format::BAD_STANDARDIZE);
    assert_eq!(
        err::<Tiny, 2>(&edited(&f, p - 16, &f32::NAN.to_le_bytes())),
        format::BAD_STANDARDIZE
    );

    // Description: tuple tag 0x21, count 3, affine tag 0x01 at 25, D at 26, signs at 30..32,
    // additive tag at 32, D, O at 33..41, mask at 41..43, MLP tag at 43, IN, H, OUT, EXTRA, act.
    assert_eq!(f[20], 0x21);
    assert_eq!(f[25], 0x01);
    assert_eq!(f[32], 0x08);
    assert_eq!(f[43], 0x30);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 21, &4u32.to_le_bytes())), format::WRONG_LAYERS);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 25, &[0x02])), format::WRONG_LAYERS);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 26, &3u32.to_le_bytes())), format::WRONG_SHAPE);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 30, &[2])), format::BAD_CONFIG);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 41, &[1, 1])), format::BAD_CONFIG);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 48, &4u32.to_le_bytes())), format::WRONG_SHAPE);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 56, &1u32.to_le_bytes())), format::WRONG_LAYERS);
    assert_eq!(err::<Tiny, 2>(&edited(&f, 60, &[9])), format::BAD_CONFIG);
    // One more description byte (L + 1): the type is fully read before the description ends.
    let l = u32::from_le_bytes(f[12..16].try_into().unwrap()) as usize;
    let mut g = f.clone();
    g.insert(20 + l, 0);
    g[12..16].copy_from_slice(&(l as u32 + 1).to_le_bytes());
    reseal(&mut g);
    assert_eq!(err::<Tiny, 2>(&g), format::DESCRIPTION_LONG);
    // One byte fewer: the last item is cut short.
    let mut g = f.clone();
    g.remove(20 + l - 1);
    g[12..16].copy_from_slice(&(l as u32 - 1).to_le_bytes());
    reseal(&mut g);
    assert_eq!(err::<Tiny, 2>(&g), format::DESCRIPTION_SHORT);
}

#[test]
fn a_file_of_one_type_is_refused_as_another() {
    let nvp = write(&realnvp(), &std2());
    let spline = write(&spline_stack(), &std2());
    let ve: VeNet =
        score_net(SdeTime(Ve::default()), TimeFeature::LogSigma, OutputScale::InverseSigma);
    let ve = write(&ve, &std2());
    let planar = write(&planar_stack(), &std2());
    assert_eq!(err::<VeNet, 2>(&nvp), format::WRONG_KIND);
    assert_eq!(err::<RealNvp, 2>(&ve), format::WRONG_KIND);
    assert_eq!(err::<SplineStack, 2>(&nvp), format::WRONG_PARAM_COUNT);
    assert_eq!(err::<RealNvp, 2>(&spline), format::WRONG_PARAM_COUNT);
    assert_eq!(err::<Affine<3>, 3>(&nvp), format::WRONG_DIM);
    assert_eq!(err::<PlanarStack, 2>(&nvp), format::WRONG_PARAM_COUNT);
    // Same parameter count, other structure.
    assert_eq!(err::<VpNet, 2>(&ve), format::WRONG_LAYERS);
    assert_eq!(err::<[Planar<2>; 9], 2>(&planar), format::WRONG_PARAM_COUNT);
    let a = write(&(Affine::new([1.0, 2.0], [0.0; 2]).unwrap(),), &std2());
    assert_eq!(err::<(flowscore::flow::actnorm::ActNorm<2>,), 2>(&a), format::WRONG_LAYERS);
    assert_eq!(err::<[Affine<2>; 1], 2>(&a), format::WRONG_LAYERS);
    let four =
        write(&[Planar::<1>::new([0.5], [1.0], 0.0).unwrap(); 2], &Standardize::<1>::identity());
    // [Planar<1>; 2] and [Radial<1>; 2] both have 6 parameters.
    assert_eq!(err::<[flowscore::flow::Radial<1>; 2], 1>(&four), format::WRONG_LAYERS);
    // A conditioner width that differs while the parameter count agrees (an edited
    // description, resealed).
    let mut g = nvp.clone();
    // RealNVP: array tag, K, coupling tag, D, O, mask (2), MLP tag, IN, H at 20+5+1+8+2+1+4.
    let h_at = 20 + 5 + 1 + 8 + 2 + 1 + 4;
    assert_eq!(u32::from_le_bytes(g[h_at..h_at + 4].try_into().unwrap()), 64);
    g[h_at..h_at + 4].copy_from_slice(&32u32.to_le_bytes());
    reseal(&mut g);
    assert_eq!(err::<RealNvp, 2>(&g), format::WRONG_SHAPE);
}

#[test]
fn every_single_byte_change_is_detected() {
    let f = write(&tiny(), &std2());
    let header_errors = [
        format::BAD_MAGIC,
        format::BAD_VERSION,
        format::WRONG_KIND,
        format::BAD_RESERVED,
        format::TRUNCATED,
        format::TRAILING,
    ];
    let mut g = f.clone();
    let mut checked = 0usize;
    for i in 0..f.len() {
        for x in 1..=255u8 {
            g[i] = f[i] ^ x;
            match load::<Tiny, 2>(&g) {
                Ok(_) => panic!("byte {i} xor {x:#04x} was not detected"),
                Err(e) => assert!(
                    e == format::BAD_CHECKSUM || header_errors.contains(&e),
                    "byte {i} xor {x:#04x}: {e:?}"
                ),
            }
            checked += 1;
        }
        g[i] = f[i];
    }
    assert_eq!(checked, f.len() * 255);
}

#[test]
fn every_truncation_is_detected() {
    let f = write(&realnvp(), &std2());
    for n in 0..f.len() {
        assert_eq!(err::<RealNvp, 2>(&f[..n]), format::TRUNCATED, "length {n}");
    }
    load::<RealNvp, 2>(&f).unwrap();
}

#[test]
fn fuzz_seed_corpus_loads() {
    use fuzz_models::*;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/model_load");
    let names = ["realnvp.flws", "spline.flws", "mixed.flws", "score.flws"];
    let files = valid_files();
    if std::env::var_os("FLOWSCORE_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, f) in names.iter().zip(files.iter()) {
            std::fs::write(dir.join(name), f).unwrap();
        }
    }
    for (name, f) in names.iter().zip(files.iter()) {
        let stored = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(&stored, f, "{name} differs from what models.rs writes");
    }
    load::<SmallRealNvp, 2>(&files[0]).unwrap();
    load::<SmallSpline, 2>(&files[1]).unwrap();
    load::<Mixed, 2>(&files[2]).unwrap();
    load::<SmallScore, 2>(&files[3]).unwrap();
}

/// Weights (o·7 + i·3 mod 11)·0.05 − 0.25 built at compile time.
const fn weights<const IN: usize, const OUT: usize>(salt: usize) -> [[f32; IN]; OUT] {
    let mut w = [[0.0; IN]; OUT];
    let mut o = 0;
    while o < OUT {
        let mut i = 0;
        while i < IN {
            w[o][i] = ((o * 7 + i * 3 + salt) % 11) as f32 * 0.05 - 0.25;
            i += 1;
        }
        o += 1;
    }
    w
}

const fn dense<const IN: usize, const OUT: usize>(salt: usize) -> Dense<IN, OUT> {
    match Dense::from_params(weights(salt), [0.125; OUT]) {
        Ok(d) => d,
        Err(_) => panic!("finite weights"),
    }
}

const fn const_maf(salt: usize) -> (Maf<2, 8, 4>, Permutation<2>) {
    let net = Mlp {
        activation: Activation::Tanh,
        input: dense(salt),
        hidden: [dense(salt + 1)],
        output: dense(salt + 2),
    };
    (Maf::new(net), Permutation::reverse())
}

/// A MAF stack and its standardisation built at compile time, as a firmware image holds its
/// model in flash.
static FLASH_MODEL: [(Maf<2, 8, 4>, Permutation<2>); 3] =
    [const_maf(0), const_maf(5), const_maf(9)];
static FLASH_STANDARDIZE: Standardize<2> = match Standardize::new([0.5, -1.0], [2.0, 0.25]) {
    Ok(s) => s,
    Err(_) => panic!("a valid standardisation"),
};

/// The `const` constructors build the same layers as the run-time ones (masks applied at
/// compile time), a flow that borrows a `static` computes the bits of one that owns a copy,
/// and the static's streamed checksum is the one its file stores.
#[test]
fn a_model_built_at_compile_time_is_the_run_time_model() {
    for (k, salt) in [0, 5, 9].into_iter().enumerate() {
        let net = Mlp {
            activation: Activation::Tanh,
            input: Dense::from_params(weights(salt), [0.125; 8]).unwrap(),
            hidden: [Dense::from_params(weights(salt + 1), [0.125; 8]).unwrap()],
            output: Dense::from_params(weights(salt + 2), [0.125; 4]).unwrap(),
        };
        assert_eq!(FLASH_MODEL[k].0, Maf::new(net));
        assert_eq!(FLASH_MODEL[k].1, Permutation::reverse());
        assert_eq!(FLASH_MODEL[k].1.indices(), &[1, 0]);
        // MADE's masks hold: no first-layer unit sees the last input x₁, and the outputs of
        // the first coordinate (μ₀, α̂₀: rows 0 and 2) see no hidden unit.
        let made = FLASH_MODEL[k].0.made();
        assert!(made.input.weight().iter().all(|row| row[1] == 0.0));
        assert!([0, 2].iter().all(|&o| made.output.weight()[o].iter().all(|&w| w == 0.0)));
    }
    assert_eq!(FLASH_STANDARDIZE, Standardize::new([0.5, -1.0], [2.0, 0.25]).unwrap());
    let borrowed = Flow::new(StandardNormal, &FLASH_MODEL);
    let owned = Flow::new(StandardNormal, FLASH_MODEL);
    for x in points::<2>() {
        let a = borrowed.log_prob::<f32, 2>(x).unwrap();
        let b = owned.log_prob::<f32, 2>(x).unwrap();
        assert_eq!(a.to_bits(), b.to_bits(), "{x:?}");
        assert!(a.is_finite());
    }
    let (bytes, back) = round_trip(&FLASH_MODEL, &FLASH_STANDARDIZE);
    assert_eq!(back, FLASH_MODEL);
    let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(format::checksum_of(&FLASH_MODEL, &FLASH_STANDARDIZE), Ok(stored));
}
