//! Model files: one byte layout that the host writes and the firmware loads, with a versioned
//! header, the model's shapes and configuration, the data standardisation, the parameters and a
//! checksum. Writing goes into a caller's buffer ([`save`], sized by [`encoded_len`]); loading
//! ([`load`]) reads `&[u8]` into the const-generic model type the caller names, with no
//! allocation, and checks that the file describes exactly that type.
//!
//! ## Byte layout (version 1)
//! All integers are unsigned little-endian, all reals `f32` little-endian (IEEE 754 binary32).
//!
//! | offset          | size | field                                                          |
//! |-----------------|------|----------------------------------------------------------------|
//! | 0               | 4    | magic `b"FLWS"` ([`MAGIC`])                                    |
//! | 4               | 2    | format version, u16 ([`VERSION`])                              |
//! | 6               | 1    | model kind, u8 ([`ModelKind`]: 1 flow, 2 score, 3 network)     |
//! | 7               | 1    | reserved, 0                                                    |
//! | 8               | 4    | D, u32: the data dimension                                     |
//! | 12              | 4    | L, u32: the length of the description in bytes                |
//! | 16              | 4    | N, u32: the number of parameters ([`Params::LEN`])             |
//! | 20              | L    | description: the model's structure (below)                     |
//! | 20 + L          | 4D   | standardisation shift, D × f32                                 |
//! | 20 + L + 4D     | 4D   | standardisation scale, D × f32 (each > 0)                      |
//! | 20 + L + 8D     | 4N   | parameters, N × f32, in the [`Params`] layout                  |
//! | 20 + L + 8D + 4N| 4    | CRC-32 (ISO-HDLC, as zlib and PNG) of every byte before it     |
//!
//! The file is exactly 24 + L + 8D + 4N bytes. The standardisation ([`Standardize`]) is the
//! affine map between data and model space, x_model = (x_data − shift) / scale, stored in `f32`.
//!
//! ## Description
//! A tree of items, each a tag byte followed by its fields (dimensions as u32, flags as a byte
//! 0 or 1, reals as f32) and then its children, in the order the type nests them:
//!
//! | tag    | item                   | fields, then children                                        |
//! |--------|------------------------|--------------------------------------------------------------|
//! | `0x01` | [`Affine`]             | D; D sign flags (scale < 0)                                  |
//! | `0x02` | [`ActNorm`]            | D                                                            |
//! | `0x03` | [`LuLinear`]           | D; D permutation indices (u32); D sign flags of the diagonal |
//! | `0x04` | [`Permutation`]        | D; D indices (u32)                                           |
//! | `0x05` | [`DiagonalScaling`]    | D                                                            |
//! | `0x06` | [`Planar`]             | D                                                            |
//! | `0x07` | [`Radial`]             | D                                                            |
//! | `0x08` | [`AdditiveCoupling`]   | D, O; D mask flags (kept); the conditioner                   |
//! | `0x09` | [`AffineCoupling`]     | D, O; D mask flags (kept); the conditioner                   |
//! | `0x0A` | [`SplineCoupling`]     | D, K, O; bound B (f32); D mask flags; the conditioner        |
//! | `0x0B` | [`SplineElementwise`]  | D, K; per coordinate K + 1 knots (x, y, δ as f32)            |
//! | `0x0C` | [`Maf`]                | D, H, O; the MADE network (an `0x30` item)                   |
//! | `0x20` | array `[P; K]`         | K; the K elements                                            |
//! | `0x21` | tuple `(A, B, …)`      | the member count; the members                                |
//! | `0x30` | [`Mlp`]                | IN, H, OUT, EXTRA; activation (u8: 0 tanh, 1 ReLU, 2 SiLU, 3 softplus) |
//! | `0x40` | [`ScoreNet`]           | D, F; conditioning; output scaling (u8: 0 1/σ, 1 unscaled); embedding; the MLP |
//! | `0x41` | [`LinearScore`]        | D                                                            |
//!
//! Conditioning: a u8 (0 noise level, 1 VE, 2 VP, 3 sub-VP) and two f32 (σ_min and σ_max for
//! VE, β_min and β_max for VP and sub-VP, zeros for a noise level). Embedding: a u8 (0 time,
//! 1 log σ), an f32 time scale (0 for log σ), then the F frequencies as f32 (fixed at
//! initialisation, not trained, so they belong to the description).
//!
//! ## Loading checks, in order
//! Each failure is an [`Error::Format`] with its own message (the constants of this module):
//! [`TRUNCATED`] (fewer bytes than the fixed header or than the lengths it declares),
//! [`BAD_MAGIC`], [`BAD_VERSION`], [`WRONG_KIND`], [`BAD_RESERVED`], [`TRAILING`],
//! [`BAD_CHECKSUM`], [`WRONG_DIM`], [`WRONG_PARAM_COUNT`], [`BAD_STANDARDIZE`]; then, item by
//! item, the description against the type and the item's parameters: [`WRONG_LAYERS`] (another
//! item or layer count), [`WRONG_SHAPE`] (another width, bin count, …), [`BAD_CONFIG`] (an
//! invalid mask, permutation, bound, SDE, embedding, activation or flag byte),
//! [`DESCRIPTION_SHORT`], [`NON_FINITE`] (a NaN or infinite parameter), [`REJECTED`]
//! (parameters a layer's constructor refuses); last [`DESCRIPTION_LONG`] and
//! [`PARAMS_MISMATCH`]. Every read is bounds-checked and every loop runs over a length fixed
//! by the type, so no byte string makes the loader panic or run long.

use crate::error::Error;
use crate::params::Params;
use crate::real::Real;

mod impls;

pub use impls::ConditioningFormat;

#[cfg(doc)]
use crate::{
    flow::{
        Affine, Planar, Radial,
        actnorm::ActNorm,
        coupling::{AdditiveCoupling, AffineCoupling, DiagonalScaling},
        lu::LuLinear,
        maf::Maf,
        permute::Permutation,
        spline::{SplineCoupling, SplineElementwise},
    },
    nn::Mlp,
    score::net::{LinearScore, ScoreNet},
};

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"FLWS";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Bytes before the description: magic, version, kind, reserved, D, L, N.
pub const PREFIX_LEN: usize = 20;
/// Bytes of the trailing checksum.
pub const CRC_LEN: usize = 4;

/// Fewer bytes than the header or the lengths it declares.
pub const TRUNCATED: Error = Error::Format("truncated");
/// More bytes than the lengths the header declares.
pub const TRAILING: Error = Error::Format("trailing bytes after the checksum");
/// The file does not start with [`MAGIC`].
pub const BAD_MAGIC: Error = Error::Format("wrong magic");
/// A format version other than [`VERSION`].
pub const BAD_VERSION: Error = Error::Format("unsupported format version");
/// A model kind other than the type's.
pub const WRONG_KIND: Error = Error::Format("wrong model kind");
/// The reserved header byte is not zero.
pub const BAD_RESERVED: Error = Error::Format("reserved header byte is not zero");
/// The CRC-32 does not match the bytes.
pub const BAD_CHECKSUM: Error = Error::Format("checksum mismatch");
/// A data dimension D other than the type's.
pub const WRONG_DIM: Error = Error::Format("data dimension differs from the model type");
/// A parameter count other than the type's [`Params::LEN`].
pub const WRONG_PARAM_COUNT: Error = Error::Format("parameter count differs from the model type");
/// Another item (layer kind) or another number of layers than the type has.
pub const WRONG_LAYERS: Error = Error::Format("layer list differs from the model type");
/// Another width, bin count, embedding size or dimension of an item than the type has.
pub const WRONG_SHAPE: Error = Error::Format("layer shape differs from the model type");
/// A configuration value that the type refuses (mask, permutation, bound, SDE, embedding,
/// activation or flag byte).
pub const BAD_CONFIG: Error = Error::Format("invalid layer configuration");
/// The description ends before the type is fully described.
pub const DESCRIPTION_SHORT: Error = Error::Format("description ended early");
/// The description goes on after the type is fully described.
pub const DESCRIPTION_LONG: Error = Error::Format("description is longer than the model type");
/// A standardisation shift or scale that is not finite, or a scale that is not positive.
pub const BAD_STANDARDIZE: Error = Error::Format("invalid standardisation");
/// A NaN or infinite parameter.
pub const NON_FINITE: Error = Error::Format("non-finite parameter");
/// Finite parameters that a layer's constructor rejects.
pub const REJECTED: Error = Error::Format("parameters rejected by a layer");
/// The parameter section ends before, or goes on after, the type's parameters (a type whose
/// [`ModelFormat`] impl reads other than [`Params::LEN`] numbers).
pub const PARAMS_MISMATCH: Error = Error::Format("parameter section does not match the model type");
/// [`save`]'s output buffer is shorter than [`encoded_len`].
pub const BUFFER_TOO_SMALL: Error = Error::Format("output buffer too small");
/// A dimension or length that does not fit the format's u32 fields, or a shape the format has
/// no layout for (e.g. a planar layer with D = 0).
pub const UNSUPPORTED: Error = Error::Format("model shape not representable in the format");

/// What a model file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ModelKind {
    /// A normalizing flow's bijector: a layer, or an array or tuple of layers.
    Flow = 1,
    /// A learned score model ([`ScoreNet`], [`LinearScore`]).
    Score = 2,
    /// A bare network ([`Mlp`]), e.g. a conditioner on its own.
    Network = 3,
}

/// CRC-32/ISO-HDLC (the zlib and PNG CRC); a `static`, so that [`checksum_of`]'s digest can
/// borrow it.
static CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The CRC-32 (ISO-HDLC) of `bytes`, as stored at the end of a model file.
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// A type that a model file can hold: it describes its own structure (what [`load`] expects)
/// and moves its parameters to and from bytes in the [`Params`] layout.
///
/// Implemented for every flow layer, arrays `[P; K]` and tuples (up to 8 members) of them,
/// [`Mlp`], [`ScoreNet`] (with [`ConditioningFormat`] conditionings) and [`LinearScore`]. An
/// implementation reads exactly what its `describe` and `write_values` write.
pub trait ModelFormat: Params {
    /// The kind recorded in the header.
    const KIND: ModelKind;
    /// The data dimension D recorded in the header (a network's input width).
    const DIM: usize;

    /// Write the structure: the item's tag, its shapes and configuration, then its children.
    fn describe(&self, w: &mut Writer<'_>);

    /// Write the [`Params::LEN`] parameters, in the [`Params`] layout.
    fn write_values(&self, w: &mut Writer<'_>);

    /// Read the structure from `desc` (checking it against the type) and the parameters from
    /// `params`, and build the model, validated as its constructors validate.
    ///
    /// Errors: an [`Error::Format`] of this module (never a panic).
    fn read(desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<Self, Error>;

    /// [`read`](Self::read) into `self` in place: the same checks and, on success, the same
    /// model (what [`load_into`] uses, for models that are large next to a microcontroller's
    /// stack). Arrays, tuples, [`Mlp`], [`Maf`] and [`ScoreNet`] read
    /// item by item into their own storage, so a stack of them is never built a second time;
    /// every other item builds its value, then assigns it — for a coupling that value holds a
    /// whole conditioner network, so those still take one item's copy on the stack.
    ///
    /// On an error `self` is a mix of its old items and items read from the file, each of
    /// them valid as its type requires (every value is checked before it is written, and a
    /// MAF's masks are re-applied), but in general the model of neither: reload it before
    /// use.
    fn read_into(&mut self, desc: &mut Reader<'_>, params: &mut Reader<'_>) -> Result<(), Error> {
        *self = Self::read(desc, params)?;
        Ok(())
    }
}

/// A cursor that writes into a byte buffer, or only counts (for [`encoded_len`]), or only
/// feeds a CRC-32 (for [`checksum_of`]). Writes past the end are dropped and remembered as an
/// error; it never panics.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    counting: bool,
    digest: Option<crc::Digest<'static, u32>>,
    error: Option<Error>,
}

impl core::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("pos", &self.pos)
            .field("counting", &self.counting)
            .field("digest", &self.digest.is_some())
            .field("error", &self.error)
            .finish()
    }
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0, counting: false, digest: None, error: None }
    }

    fn counter() -> Writer<'static> {
        Writer { buf: &mut [], pos: 0, counting: true, digest: None, error: None }
    }

    fn digester() -> Writer<'static> {
        Writer { buf: &mut [], pos: 0, counting: true, digest: Some(CRC32.digest()), error: None }
    }

    /// The number of bytes written (or counted) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Record an error; the first one is kept and returned by [`save`] and [`encoded_len`].
    pub fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Append raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        let end = self.pos.saturating_add(b.len());
        if let Some(d) = self.digest.as_mut() {
            d.update(b);
        }
        if !self.counting {
            match self.buf.get_mut(self.pos..end) {
                // Element by element: `copy_from_slice` keeps a length-mismatch panic path
                // that the compiler cannot remove (the firmware's link check looks for one).
                Some(dst) if dst.len() == b.len() => {
                    for (d, s) in dst.iter_mut().zip(b) {
                        *d = *s;
                    }
                }
                _ => self.fail(BUFFER_TOO_SMALL),
            }
        }
        self.pos = end;
    }

    /// Append a byte.
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    /// Append a u16, little-endian.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    /// Append a u32, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Append a dimension as a u32 ([`UNSUPPORTED`] if it does not fit).
    pub fn dim(&mut self, v: usize) {
        match u32::try_from(v) {
            Ok(v) => self.u32(v),
            Err(_) => {
                self.fail(UNSUPPORTED);
                self.u32(u32::MAX);
            }
        }
    }

    /// Append a flag as a byte 0 or 1.
    pub fn flag(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// Append an `f32`, little-endian.
    pub fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Append `f32`s, little-endian.
    pub fn f32s(&mut self, vs: &[f32]) {
        for &v in vs {
            self.f32(v);
        }
    }
}

/// A bounds-checked cursor over bytes: every read either succeeds or returns the reader's
/// end-of-input error; it never panics.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    short: Error,
}

impl<'a> Reader<'a> {
    fn new(rest: &'a [u8], short: Error) -> Self {
        Self { rest, short }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Take `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(self.short)?;
        self.rest = tail;
        Ok(*head)
    }

    /// Read a byte.
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    /// Read a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, Error> {
        self.array().map(u16::from_le_bytes)
    }

    /// Read a little-endian u32.
    pub fn u32(&mut self) -> Result<u32, Error> {
        self.array().map(u32::from_le_bytes)
    }

    /// Read a little-endian `f32` (any bit pattern).
    pub fn f32(&mut self) -> Result<f32, Error> {
        self.array().map(f32::from_le_bytes)
    }

    /// Read a flag byte: 0 or 1, anything else [`BAD_CONFIG`].
    pub fn flag(&mut self) -> Result<bool, Error> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(BAD_CONFIG),
        }
    }

    /// Read an item tag and check it: another tag is [`WRONG_LAYERS`].
    pub fn expect_tag(&mut self, tag: u8) -> Result<(), Error> {
        if self.u8()? == tag { Ok(()) } else { Err(WRONG_LAYERS) }
    }

    /// Read a u32 dimension and check that it is `expected`, else `err`.
    pub fn expect_u32(&mut self, expected: usize, err: Error) -> Result<(), Error> {
        let v = self.u32()?;
        if usize::try_from(v).ok() == Some(expected) { Ok(()) } else { Err(err) }
    }

    /// Read a u32 dimension and check that it is `expected`, else [`WRONG_SHAPE`].
    pub fn expect_dim(&mut self, expected: usize) -> Result<(), Error> {
        self.expect_u32(expected, WRONG_SHAPE)
    }

    /// Fill `out` with parameters: [`NON_FINITE`] for a NaN or infinite one.
    pub fn params(&mut self, out: &mut [f32]) -> Result<(), Error> {
        for o in out.iter_mut() {
            let v = self.f32()?;
            if !v.is_finite() {
                return Err(NON_FINITE);
            }
            *o = v;
        }
        Ok(())
    }
}

/// The standardisation between data and model space, x_model = (x_data − shift) / scale per
/// coordinate, stored in `f32` (the project's storage precision).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standardize<const D: usize> {
    shift: [f32; D],
    scale: [f32; D],
}

impl<const D: usize> Standardize<D> {
    /// The map with the given shift and scale.
    ///
    /// Errors: [`Error::NonFinite`] for a NaN or infinite entry, [`Error::InvalidParameter`]
    /// for a scale ≤ 0.
    ///
    /// `const`, so that a flash-resident model's standardisation is built at compile time.
    pub const fn new(shift: [f32; D], scale: [f32; D]) -> Result<Self, Error> {
        if let Err(e) = crate::error::all_finite("standardisation shift", &shift) {
            return Err(e);
        }
        if let Err(e) = crate::error::all_finite("standardisation scale", &scale) {
            return Err(e);
        }
        let mut i = 0;
        while i < D {
            if scale[i] <= 0.0 {
                return Err(Error::InvalidParameter {
                    name: "standardisation scale",
                    reason: "must be > 0",
                });
            }
            i += 1;
        }
        Ok(Self { shift, scale })
    }

    /// The identity (shift 0, scale 1).
    pub fn identity() -> Self {
        Self { shift: [0.0; D], scale: [1.0; D] }
    }

    /// The shift (the data-space mean).
    pub fn shift(&self) -> &[f32; D] {
        &self.shift
    }

    /// The scale (the data-space standard deviation).
    pub fn scale(&self) -> &[f32; D] {
        &self.scale
    }

    /// x_model = (x_data − shift) / scale.
    #[inline]
    pub fn to_model<R: Real>(&self, x: &[R; D]) -> [R; D] {
        crate::lane::array_fn(|i| (x[i] - R::from_f32(self.shift[i])) / R::from_f32(self.scale[i]))
    }

    /// x_data = shift + scale · x_model.
    #[inline]
    pub fn to_data<R: Real>(&self, y: &[R; D]) -> [R; D] {
        crate::lane::array_fn(|i| R::from_f32(self.shift[i]) + R::from_f32(self.scale[i]) * y[i])
    }

    /// log |det ∂x_model/∂x_data| = −Σ ln scaleᵢ, what a model-space log-density gains in data
    /// space.
    pub fn log_det_to_model(&self) -> f64 {
        -self.scale.iter().map(|&s| libm::log(s as f64)).sum::<f64>()
    }
}

/// The description's length in bytes.
fn description_len<M: ModelFormat>(model: &M) -> Result<usize, Error> {
    let mut w = Writer::counter();
    model.describe(&mut w);
    match w.error {
        Some(e) => Err(e),
        None => Ok(w.pos),
    }
}

/// The exact length of `model`'s file: 24 + L + 8D + 4N bytes.
///
/// Errors: [`UNSUPPORTED`] for a shape or length that does not fit the u32 fields.
pub fn encoded_len<M: ModelFormat, const D: usize>(
    model: &M,
    standardize: &Standardize<D>,
) -> Result<usize, Error> {
    const { assert!(M::DIM == D, "format: the standardisation's D must be the model's") };
    let _ = standardize;
    let desc = description_len(model)?;
    u32::try_from(desc).map_err(|_| UNSUPPORTED)?;
    u32::try_from(D).map_err(|_| UNSUPPORTED)?;
    u32::try_from(M::LEN).map_err(|_| UNSUPPORTED)?;
    (PREFIX_LEN + CRC_LEN)
        .checked_add(desc)
        .and_then(|n| n.checked_add(D.checked_mul(8)?))
        .and_then(|n| n.checked_add(M::LEN.checked_mul(4)?))
        .ok_or(UNSUPPORTED)
}

/// Write `model` and its standardisation into `out[..n]` and return n ([`encoded_len`]).
///
/// Errors: [`BUFFER_TOO_SMALL`] if `out` is shorter than [`encoded_len`] (nothing is written),
/// [`UNSUPPORTED`] as [`encoded_len`].
pub fn save<M: ModelFormat, const D: usize>(
    model: &M,
    standardize: &Standardize<D>,
    out: &mut [u8],
) -> Result<usize, Error> {
    let total = encoded_len(model, standardize)?;
    let desc = description_len(model)?;
    let out = out.get_mut(..total).ok_or(BUFFER_TOO_SMALL)?;
    let (body, crc) = out.split_at_mut(total - CRC_LEN);
    let mut w = Writer::new(body);
    write_body(&mut w, model, standardize, desc)?;
    if w.pos != total - CRC_LEN {
        return Err(PARAMS_MISMATCH);
    }
    crc.copy_from_slice(&checksum(body).to_le_bytes());
    Ok(total)
}

/// Everything of the file but its CRC: the prefix, the description, the standardisation and
/// the parameters.
fn write_body<M: ModelFormat, const D: usize>(
    w: &mut Writer<'_>,
    model: &M,
    standardize: &Standardize<D>,
    desc_len: usize,
) -> Result<(), Error> {
    w.bytes(&MAGIC);
    w.u16(VERSION);
    w.u8(M::KIND as u8);
    w.u8(0);
    w.dim(D);
    w.dim(desc_len);
    w.dim(M::LEN);
    model.describe(w);
    w.f32s(&standardize.shift);
    w.f32s(&standardize.scale);
    model.write_values(w);
    match w.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The CRC-32 that [`save`] stores at the end of `model`'s file, computed by streaming the
/// encoding through the checksum: no buffer, a few hundred bytes of stack.
///
/// A device whose model is a `static` in flash (built at compile time from the file, so that
/// its parameters need no RAM) compares this with the file's checksum at boot: equal, the model
/// it runs encodes to exactly the file's bytes (every parameter, the structure and the
/// standardisation) up to CRC-32's collisions, which include no burst error of 32 bits or fewer
/// and, in a file of this size (well under 91 kbit), no error of 1, 2 or 3 flipped bits.
///
/// Errors: [`UNSUPPORTED`] as [`encoded_len`].
pub fn checksum_of<M: ModelFormat, const D: usize>(
    model: &M,
    standardize: &Standardize<D>,
) -> Result<u32, Error> {
    let total = encoded_len(model, standardize)?;
    let desc = description_len(model)?;
    let mut w = Writer::digester();
    write_body(&mut w, model, standardize, desc)?;
    if w.pos != total - CRC_LEN {
        return Err(PARAMS_MISMATCH);
    }
    match w.digest {
        Some(d) => Ok(d.finalize()),
        None => Err(PARAMS_MISMATCH),
    }
}

/// Load a model of type `M` and its standardisation from `bytes`, checking that the file
/// describes exactly `M` (kind, D, every layer's kind, shape and configuration, the parameter
/// count) and validating every parameter as `M`'s constructors do. No allocation.
///
/// Errors: an [`Error::Format`] with one of this module's messages (see the module
/// documentation for the order of the checks); never a panic, for any byte string.
pub fn load<M: ModelFormat, const D: usize>(bytes: &[u8]) -> Result<(M, Standardize<D>), Error> {
    let (standardize, mut desc, mut params) = open::<M, D>(bytes)?;
    let model = M::read(&mut desc, &mut params)?;
    finish(&desc, &params)?;
    Ok((model, standardize))
}

/// [`load`] into an existing `model` in place ([`ModelFormat::read_into`]), returning the
/// standardisation: the same checks, errors and, on success, the same model, without building
/// the arrays and tuples of layers a second time on the stack.
///
/// A file refused by the checks before the description — magic, version, kind, reserved byte,
/// lengths, CRC-32, D, parameter count, standardisation — leaves `model` untouched (so does
/// every damaged file, whose checksum fails). A file refused later, by an item's check (another
/// layer, shape or configuration, a non-finite or rejected parameter), leaves a valid value
/// of the type that mixes old and new items (see [`ModelFormat::read_into`]): reload before
/// use.
pub fn load_into<M: ModelFormat, const D: usize>(
    bytes: &[u8],
    model: &mut M,
) -> Result<Standardize<D>, Error> {
    let (standardize, mut desc, mut params) = open::<M, D>(bytes)?;
    model.read_into(&mut desc, &mut params)?;
    finish(&desc, &params)?;
    Ok(standardize)
}

/// The header, length, checksum, dimension and parameter-count checks of [`load`], then the
/// standardisation; returns it with readers of the description and of the parameters.
fn open<'a, M: ModelFormat, const D: usize>(
    bytes: &'a [u8],
) -> Result<(Standardize<D>, Reader<'a>, Reader<'a>), Error> {
    const { assert!(M::DIM == D, "format: the standardisation's D must be the model's") };
    let mut r = Reader::new(bytes, TRUNCATED);
    if r.array::<4>()? != MAGIC {
        return Err(BAD_MAGIC);
    }
    if r.u16()? != VERSION {
        return Err(BAD_VERSION);
    }
    if r.u8()? != M::KIND as u8 {
        return Err(WRONG_KIND);
    }
    if r.u8()? != 0 {
        return Err(BAD_RESERVED);
    }
    let dim = r.u32()?;
    let desc_len = r.u32()?;
    let n_params = r.u32()?;
    // Every term is below 2^35, so the u64 sum cannot overflow.
    let declared = (PREFIX_LEN + CRC_LEN) as u64
        + u64::from(desc_len)
        + 8 * u64::from(dim)
        + 4 * u64::from(n_params);
    let actual = bytes.len() as u64;
    if actual < declared {
        return Err(TRUNCATED);
    }
    if actual > declared {
        return Err(TRAILING);
    }
    let (body, crc) = bytes.split_last_chunk::<CRC_LEN>().ok_or(TRUNCATED)?;
    if checksum(body) != u32::from_le_bytes(*crc) {
        return Err(BAD_CHECKSUM);
    }
    if usize::try_from(dim).ok() != Some(D) {
        return Err(WRONG_DIM);
    }
    if usize::try_from(n_params).ok() != Some(M::LEN) {
        return Err(WRONG_PARAM_COUNT);
    }
    let rest = body.get(PREFIX_LEN..).ok_or(TRUNCATED)?;
    let desc_len = usize::try_from(desc_len).map_err(|_| TRUNCATED)?;
    let (desc, rest) = rest.split_at_checked(desc_len).ok_or(TRUNCATED)?;
    let std_len = D.checked_mul(8).ok_or(UNSUPPORTED)?;
    let (std_bytes, params) = rest.split_at_checked(std_len).ok_or(TRUNCATED)?;

    let mut s = Reader::new(std_bytes, TRUNCATED);
    let mut shift = [0.0f32; D];
    let mut scale = [0.0f32; D];
    for v in shift.iter_mut().chain(scale.iter_mut()) {
        *v = s.f32()?;
    }
    let standardize = Standardize::new(shift, scale).map_err(|_| BAD_STANDARDIZE)?;
    Ok((standardize, Reader::new(desc, DESCRIPTION_SHORT), Reader::new(params, PARAMS_MISMATCH)))
}

/// The last checks of [`load`]: nothing left of the description or the parameters.
fn finish(desc: &Reader<'_>, params: &Reader<'_>) -> Result<(), Error> {
    if !desc.is_empty() {
        return Err(DESCRIPTION_LONG);
    }
    if !params.is_empty() {
        return Err(PARAMS_MISMATCH);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
