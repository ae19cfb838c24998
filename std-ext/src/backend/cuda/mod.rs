//! The CUDA backend: the trainer's batch gradient on an NVIDIA GPU, through `cudarc` with the driver and NVRTC loaded at run time.
//!
//! Nothing here needs a CUDA toolkit to build: the driver (`libcuda`) and the run-time compiler
//! (`libnvrtc`) are looked for when [`CudaBackend::new`] runs, and their absence is an error
//! value ([`CudaError::NoDriver`], [`CudaError::NoDevice`], [`CudaError::NoNvrtc`]), never a
//! panic.
//!
//! ## Kernels
//! The kernel sources (`std-ext/kernels/*.cu`) are compiled by NVRTC when a backend is made,
//! with `--fmad=false` (no contraction into fused multiply-adds) and IEEE division and square
//! root, for the device's compute capability. `common.cuh`, prepended to each file, ports the
//! core's `f32` math (`exp`, `expm1`, `ln`, `sin_cos`, `tanh`, `sigmoid`) and its random streams
//! (SplitMix64-seeded Xoshiro128++ per sample, Box–Muller) operation for operation, so the
//! random draws are made on the GPU from `(seed, index)` exactly as the CPU makes them — no
//! random numbers are uploaded — and a sample's forward values are the CPU's bits.
//!
//! - `dsm.cu`: one thread per sample runs denoising score matching of a ScoreNet (draw t and
//!   ε, perturb, embed, the MLP forward, the loss, the backward to every dense layer's
//!   cotangent) and writes the cotangents and layer inputs to a gradient record in global
//!   memory, feature-major (row r of sample s at `r·n + s`: a warp's stores are coalesced).
//!   The weights are read by every thread at the same address (a broadcast through the cache);
//!   one thread per sample keeps each sample's sums in the CPU's order (bias first, inputs in
//!   index order), which a thread-per-output GEMM would not.
//! - `reduce.cu`: the parameter gradient is reduced from the record by one thread per
//!   (chunk, parameter) in exactly the order of the core's `chunk_gradient` — slot i mod 8,
//!   blocks of 64, sums from −0, the slots' pairwise tree — then one thread per parameter
//!   combines the chunk sums pairwise in chunk order, as [`super::pairwise_sum`] does. No
//!   atomics and no shared accumulator: the gradient is the same bits as the CPU backend's.
//! - `adam.cu`: the batch mean, the global norm (f64, fixed runs of 256 in index order, then
//!   the runs in order), Adam and the EMA, element-wise on buffers that stay on the GPU.
//!
//! The same sources compile as host C++ (`host_shim.h` runs each launch's threads one after
//! the other; no kernel synchronises threads), which the tests use on machines without a GPU
//! (feature `host-kernels`).

#[cfg(feature = "host-kernels")]
pub mod host;

use std::fmt;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx};

use flowscore::Error;
use flowscore::loss::{Dsm, Loss, Weighting};
use flowscore::nn::{Activation, TimeFeature};
use flowscore::params::Params;
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::{Sde, SubVp, Ve, Vp};

use super::{Backend, CHUNK};

/// The shared definitions prepended to every kernel file.
pub const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// The kernel files: (name, source without [`COMMON`]).
pub const KERNELS: [(&str, &str); 3] = [
    ("dsm", include_str!("../../../kernels/dsm.cu")),
    ("reduce", include_str!("../../../kernels/reduce.cu")),
    ("adam", include_str!("../../../kernels/adam.cu")),
];

/// The virtual architectures the kernels are tested to compile for.
pub const ARCHS: [&str; 2] = ["compute_80", "compute_90"];

/// Why the CUDA backend cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CudaError {
    /// The CUDA driver library cannot be loaded.
    NoDriver,
    /// The driver found no device (or not the one asked for).
    NoDevice,
    /// The NVRTC library cannot be loaded.
    NoNvrtc,
    /// NVRTC rejected a kernel file.
    Compile {
        /// The kernel file.
        kernel: &'static str,
        /// NVRTC's log.
        log: String,
    },
    /// A driver call failed.
    Driver(String),
    /// The model or loss has a feature the kernels do not implement.
    Unsupported(&'static str),
}

impl fmt::Display for CudaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CudaError::NoDriver => write!(f, "no CUDA driver found"),
            CudaError::NoDevice => write!(f, "no CUDA device"),
            CudaError::NoNvrtc => write!(f, "no NVRTC library found"),
            CudaError::Compile { kernel, log } => {
                write!(f, "NVRTC cannot compile kernel `{kernel}`: {log}")
            }
            CudaError::Driver(e) => write!(f, "CUDA driver error: {e}"),
            CudaError::Unsupported(what) => write!(f, "not supported by the CUDA backend: {what}"),
        }
    }
}

impl std::error::Error for CudaError {}

fn driver_err(e: cudarc::driver::DriverError) -> CudaError {
    CudaError::Driver(e.to_string())
}

/// Whether the CUDA driver library can be loaded (no driver call is made).
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names; no symbol is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether the NVRTC library can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: as for `driver_present`.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The full source of kernel file `body`: [`COMMON`] then the file.
pub fn kernel_source(body: &str) -> String {
    format!("{COMMON}\n{body}")
}

/// Compile kernel file `name` (one of [`KERNELS`]) for `arch` (e.g. `"compute_90"`) to PTX.
///
/// Errors: [`CudaError::NoNvrtc`] when NVRTC cannot be loaded, [`CudaError::Compile`] with
/// NVRTC's log when the source does not compile, [`CudaError::Unsupported`] for an unknown name.
pub fn compile(name: &str, arch: &'static str) -> Result<Ptx, CudaError> {
    let (kernel, body) = KERNELS
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or(CudaError::Unsupported("unknown kernel file"))?;
    if !nvrtc_present() {
        return Err(CudaError::NoNvrtc);
    }
    let opts = CompileOptions {
        ftz: Some(false),
        prec_sqrt: Some(true),
        prec_div: Some(true),
        fmad: Some(false),
        arch: Some(arch),
        name: Some(format!("{kernel}.cu")),
        options: vec!["--std=c++17".into()],
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(kernel_source(body), opts)
        .map_err(|e| CudaError::Compile { kernel, log: format!("{e:?}") })
}

// ---------------------------------------------------------------------------------------------
// What the kernels need to know of a model and a loss
// ---------------------------------------------------------------------------------------------

/// An SDE the kernels implement: its code and three `f32` constants (`dsm.cu`, `FsSde`).
pub trait GpuSde: Sde + Copy + PartialEq + fmt::Debug {
    /// (kind, c0, c1, c2) as `dsm.cu` reads them.
    fn gpu_constants(&self) -> (i32, f32, f32, f32);
}

impl GpuSde for Ve {
    fn gpu_constants(&self) -> (i32, f32, f32, f32) {
        (0, self.sigma_min(), self.log_ratio() as f32, self.g_factor() as f32)
    }
}

fn linear_constants(kind: i32, (beta_min, beta_max): (f32, f32)) -> (i32, f32, f32, f32) {
    (kind, beta_min, (beta_max as f64 - beta_min as f64) as f32, 0.0)
}

impl GpuSde for Vp {
    fn gpu_constants(&self) -> (i32, f32, f32, f32) {
        linear_constants(1, self.beta_range())
    }
}

impl GpuSde for SubVp {
    fn gpu_constants(&self) -> (i32, f32, f32, f32) {
        linear_constants(2, self.beta_range())
    }
}

/// A ScoreNet and DSM loss as the `dsm_sample` kernel reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct DsmSpec {
    /// Data dimension D.
    pub d: i32,
    /// Embedding frequencies F.
    pub f: i32,
    /// Hidden width H.
    pub h: i32,
    /// Hidden layers (EXTRA + 1).
    pub hidden_layers: i32,
    /// Activation code (`common.cuh`).
    pub act: i32,
    /// SDE code and constants.
    pub sde: (i32, f32, f32, f32),
    /// Smallest training time ε.
    pub eps: f32,
    /// T.
    pub t_max: f32,
    /// 0: λ = σ², 1: λ = g².
    pub weighting: i32,
    /// 0: τ = scale·t, 1: τ = ln σ.
    pub feature: i32,
    /// The factor of τ = scale·t.
    pub time_scale: f32,
    /// Whether the output is divided by σ.
    pub inverse_sigma: i32,
    /// The embedding frequencies.
    pub freqs: Vec<f32>,
    /// The parameter count.
    pub p: usize,
    /// The gradient calls of one sample's backward, five ints each (`reduce.cu`).
    pub calls: Vec<i32>,
}

impl DsmSpec {
    /// The spec of `model` under `loss`.
    ///
    /// Errors: [`CudaError::Unsupported`] for D > 8, the softplus activation, or a ScoreNet
    /// conditioned on another SDE than the loss's.
    pub fn new<
        S: GpuSde,
        const D: usize,
        const F: usize,
        const IN: usize,
        const H: usize,
        const EXTRA: usize,
    >(
        model: &ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA>,
        loss: &Dsm<S>,
    ) -> Result<Self, CudaError> {
        if D > 8 {
            return Err(CudaError::Unsupported("data dimension above 8"));
        }
        if model.conditioning.0 != *loss.sde() {
            return Err(CudaError::Unsupported("a ScoreNet conditioned on another SDE"));
        }
        let act = match model.net.activation {
            Activation::Tanh => 0,
            Activation::Relu => 1,
            Activation::Silu => 2,
            Activation::Softplus => return Err(CudaError::Unsupported("the softplus activation")),
        };
        let (feature, time_scale) = match model.embedding.feature() {
            TimeFeature::Time { scale } => (0, scale),
            TimeFeature::LogSigma => (1, 0.0),
        };
        let (d, h, nl) = (D as i32, H as i32, EXTRA as i32 + 1);
        let in_w = (D + 2 * F) as i32;
        let (a_row, dz_row, ybar_row) = (in_w, in_w + nl * h, in_w + 2 * nl * h);
        let len_in = h * (in_w + 1);
        let len_h = h * (h + 1);
        // The backward's call order: output layer, hidden layers in reverse, input layer.
        let mut calls = vec![len_in + EXTRA as i32 * len_h, d, h, ybar_row, a_row + (nl - 1) * h];
        for k in (0..EXTRA as i32).rev() {
            calls.extend([len_in + k * len_h, h, h, dz_row + (k + 1) * h, a_row + k * h]);
        }
        calls.extend([0, h, in_w, dz_row, 0]);
        Ok(Self {
            d,
            f: F as i32,
            h,
            hidden_layers: nl,
            act,
            sde: loss.sde().gpu_constants(),
            eps: loss.eps(),
            t_max: loss.sde().t_max(),
            weighting: match loss.weighting() {
                Weighting::SigmaSquared => 0,
                Weighting::Likelihood => 1,
            },
            feature,
            time_scale,
            inverse_sigma: i32::from(model.output == OutputScale::InverseSigma),
            freqs: model.embedding.freqs().to_vec(),
            p: <ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA> as Params>::LEN,
            calls,
        })
    }

    /// Record rows per sample.
    pub fn rows(&self) -> usize {
        (2 * self.d + 2 * self.f + 2 * self.hidden_layers * self.h) as usize
    }

    /// The number of gradient calls.
    pub fn ncalls(&self) -> i32 {
        (self.calls.len() / 5) as i32
    }
}

/// The CPU backend's checks on a chunk result: a non-finite loss sum or gradient is an error.
fn check_finite(loss: f64, grad: &[f32]) -> Result<f64, Error> {
    if !loss.is_finite() {
        return Err(Error::NonFinite("loss"));
    }
    if grad.iter().any(|g| !g.is_finite()) {
        return Err(Error::NonFinite("gradient"));
    }
    Ok(loss)
}

// ---------------------------------------------------------------------------------------------
// The device backend
// ---------------------------------------------------------------------------------------------

/// Kernels loaded on a device.
struct Functions {
    dsm_sample: CudaFunction,
    reduce_chunks: CudaFunction,
    chunk_tree: CudaFunction,
    chunk_losses: CudaFunction,
    loss_tree: CudaFunction,
}

/// Device buffers reused across steps (grown when a batch needs more).
#[derive(Default)]
struct Buffers {
    data: Option<CudaSlice<f32>>,
    rec: Option<CudaSlice<f32>>,
    loss: Option<CudaSlice<f32>>,
    part: Option<CudaSlice<f32>>,
    chunk_loss: Option<CudaSlice<f64>>,
    params: Option<CudaSlice<f32>>,
    freqs: Option<CudaSlice<f32>>,
    calls: Option<CudaSlice<i32>>,
}

/// A batch-gradient backend on one CUDA device.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    funcs: Functions,
    bufs: Buffers,
}

impl fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaBackend").field("ordinal", &self.ctx.ordinal()).finish()
    }
}

fn blocks(n: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(block as usize).max(1) as u32, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn to_i32(n: usize, what: &'static str) -> Result<i32, Error> {
    i32::try_from(n).map_err(|_| Error::InvalidParameter { name: what, reason: "too large" })
}

impl CudaBackend {
    /// A backend on device `ordinal`: probes for the driver, creates a context, compiles the
    /// kernels with NVRTC for the device's compute capability.
    ///
    /// Errors: [`CudaError::NoDriver`] ("no CUDA driver found") when `libcuda` cannot be
    /// loaded, [`CudaError::NoDevice`] ("no CUDA device") when the driver sees no device
    /// `ordinal`, [`CudaError::NoNvrtc`], [`CudaError::Compile`], [`CudaError::Driver`].
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        if !driver_present() {
            return Err(CudaError::NoDriver);
        }
        let count = CudaContext::device_count().map_err(|_| CudaError::NoDevice)?;
        if ordinal >= count.max(0) as usize {
            return Err(CudaError::NoDevice);
        }
        if !nvrtc_present() {
            return Err(CudaError::NoNvrtc);
        }
        let ctx = CudaContext::new(ordinal).map_err(driver_err)?;
        let (major, _) = ctx.compute_capability().map_err(driver_err)?;
        let arch = if major >= 9 { "compute_90" } else { "compute_80" };
        let load = |name: &str| -> Result<_, CudaError> {
            ctx.load_module(compile(name, arch)?).map_err(driver_err)
        };
        let (dsm, reduce) = (load("dsm")?, load("reduce")?);
        let f =
            |m: &Arc<cudarc::driver::CudaModule>, n: &str| m.load_function(n).map_err(driver_err);
        let funcs = Functions {
            dsm_sample: f(&dsm, "dsm_sample")?,
            reduce_chunks: f(&reduce, "reduce_chunks")?,
            chunk_tree: f(&reduce, "chunk_tree")?,
            chunk_losses: f(&reduce, "chunk_losses")?,
            loss_tree: f(&reduce, "loss_tree")?,
        };
        let stream = ctx.default_stream();
        Ok(Self { ctx, stream, funcs, bufs: Buffers::default() })
    }

    /// A zeroed device buffer of at least `len` elements in `slot` (reused when large enough).
    fn ensure<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        stream: &Arc<CudaStream>,
        slot: &mut Option<CudaSlice<T>>,
        len: usize,
    ) -> Result<(), CudaError> {
        if slot.as_ref().is_none_or(|s| s.len() < len) {
            *slot = Some(stream.alloc_zeros::<T>(len.max(1)).map_err(driver_err)?);
        }
        Ok(())
    }

    /// The DSM gradient sum over `batch` into the device buffer `part[0 .. p)` (chunk sums
    /// behind it) with the model's parameters in `params`; returns the loss sum.
    fn dsm_gradient_device(
        &mut self,
        spec: &DsmSpec,
        batch: &[f32],
        n: usize,
        seed: u64,
        first_index: u64,
    ) -> Result<f64, CudaError> {
        let err = |e: Error| CudaError::Driver(e.to_string());
        let ni = to_i32(n, "batch").map_err(err)?;
        let nchunks = n.div_ceil(CHUNK);
        let s = &self.stream;
        let b = &mut self.bufs;
        Self::ensure(s, &mut b.data, batch.len())?;
        Self::ensure(s, &mut b.rec, spec.rows() * n)?;
        Self::ensure(s, &mut b.loss, n)?;
        Self::ensure(s, &mut b.part, nchunks * spec.p)?;
        Self::ensure(s, &mut b.chunk_loss, nchunks)?;
        if b.freqs.is_none() {
            b.freqs = Some(s.clone_htod(&spec.freqs).map_err(driver_err)?);
            b.calls = Some(s.clone_htod(&spec.calls).map_err(driver_err)?);
        }
        let (Some(data), Some(rec), Some(loss), Some(part), Some(closs), Some(params)) = (
            b.data.as_mut(),
            b.rec.as_mut(),
            b.loss.as_mut(),
            b.part.as_mut(),
            b.chunk_loss.as_mut(),
            b.params.as_ref(),
        ) else {
            return Err(CudaError::Driver("device buffers missing".into()));
        };
        let (Some(freqs), Some(calls)) = (b.freqs.as_ref(), b.calls.as_ref()) else {
            return Err(CudaError::Driver("device buffers missing".into()));
        };
        s.memcpy_htod(batch, &mut data.slice_mut(..batch.len())).map_err(driver_err)?;
        let (kind, c0, c1, c2) = spec.sde;
        let stride = ni;
        let p = to_i32(spec.p, "parameters").map_err(err)?;
        let chunk = CHUNK as i32;
        let nch = nchunks as i32;
        let ncalls = spec.ncalls();
        let f = &self.funcs;
        // SAFETY: the argument list matches `dsm_sample` in dsm.cu (types and order); `rec`
        // holds rows()·n floats, `loss` n, `data` n·d, `params` p, `freqs` f.
        unsafe {
            s.launch_builder(&f.dsm_sample)
                .arg(params)
                .arg(freqs)
                .arg(&*data)
                .arg(&ni)
                .arg(&stride)
                .arg(&spec.d)
                .arg(&spec.f)
                .arg(&spec.h)
                .arg(&spec.hidden_layers)
                .arg(&spec.act)
                .arg(&kind)
                .arg(&c0)
                .arg(&c1)
                .arg(&c2)
                .arg(&spec.eps)
                .arg(&spec.t_max)
                .arg(&spec.weighting)
                .arg(&spec.feature)
                .arg(&spec.time_scale)
                .arg(&spec.inverse_sigma)
                .arg(&seed)
                .arg(&first_index)
                .arg(&mut *rec)
                .arg(&mut *loss)
                .launch(blocks(n, 128))
        }
        .map_err(driver_err)?;
        // SAFETY: matches `reduce_chunks` in reduce.cu; `part` holds nchunks·p floats, `calls`
        // 5·ncalls ints whose rows lie inside the record.
        unsafe {
            s.launch_builder(&f.reduce_chunks)
                .arg(&*rec)
                .arg(&stride)
                .arg(&ni)
                .arg(calls)
                .arg(&ncalls)
                .arg(&p)
                .arg(&chunk)
                .arg(&mut *part)
                .launch(blocks(nchunks * spec.p, 256))
        }
        .map_err(driver_err)?;
        // SAFETY: matches `chunk_tree`; `part` holds nchunks·p floats.
        unsafe {
            s.launch_builder(&f.chunk_tree)
                .arg(&mut *part)
                .arg(&nch)
                .arg(&p)
                .launch(blocks(spec.p, 256))
        }
        .map_err(driver_err)?;
        // SAFETY: matches `chunk_losses`; `loss` holds n floats, `closs` nchunks doubles.
        unsafe {
            s.launch_builder(&f.chunk_losses)
                .arg(&*loss)
                .arg(&ni)
                .arg(&chunk)
                .arg(&mut *closs)
                .launch(blocks(nchunks, 128))
        }
        .map_err(driver_err)?;
        // SAFETY: matches `loss_tree`; `closs` holds nchunks doubles.
        unsafe { s.launch_builder(&f.loss_tree).arg(&mut *closs).arg(&nch).launch(blocks(1, 1)) }
            .map_err(driver_err)?;
        let total = s.clone_dtoh(&closs.slice(..1)).map_err(driver_err)?;
        Ok(total.first().copied().unwrap_or(f64::NAN))
    }

    /// Upload `params` as the model's parameters.
    fn upload_params(&mut self, params: &[f32]) -> Result<(), CudaError> {
        Self::ensure(&self.stream, &mut self.bufs.params, params.len())?;
        if let Some(p) = self.bufs.params.as_mut() {
            self.stream
                .memcpy_htod(params, &mut p.slice_mut(..params.len()))
                .map_err(driver_err)?;
        }
        Ok(())
    }

    /// Download the reduced gradient `part[0 .. p)` into `out`.
    fn download_grad(&mut self, out: &mut [f32]) -> Result<(), CudaError> {
        let Some(part) = self.bufs.part.as_ref() else {
            return Err(CudaError::Driver("no gradient buffer".into()));
        };
        self.stream.memcpy_dtoh(&part.slice(..out.len()), out).map_err(driver_err)
    }
}

impl<S, const D: usize, const F: usize, const IN: usize, const H: usize, const EXTRA: usize>
    Backend<D, ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA>, Dsm<S>> for CudaBackend
where
    S: GpuSde,
    Dsm<S>: Loss<D, ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA>>,
{
    fn batch_gradient(
        &mut self,
        loss: &Dsm<S>,
        model: &ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA>,
        batch: &[[f32; D]],
        seed: u64,
        first_index: u64,
        out: &mut [f32],
    ) -> Result<f64, Error> {
        let p = <ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA> as Params>::LEN;
        if out.len() != p {
            return Err(Error::InvalidParameter {
                name: "out",
                reason: "length must equal the parameter count",
            });
        }
        if batch.is_empty() {
            out.fill(0.0);
            return Ok(0.0);
        }
        let dev = |e: CudaError| Error::InvalidParameter {
            name: "cuda",
            reason: match e {
                CudaError::Unsupported(what) => what,
                _ => "the CUDA device failed",
            },
        };
        let spec = DsmSpec::new(model, loss).map_err(dev)?;
        let mut params = vec![0.0f32; p];
        model.write_params(&mut params)?;
        self.upload_params(&params).map_err(dev)?;
        // The frequencies and call table are per model: upload them each call (small).
        self.bufs.freqs = None;
        let flat: Vec<f32> = batch.iter().flatten().copied().collect();
        let total =
            self.dsm_gradient_device(&spec, &flat, batch.len(), seed, first_index).map_err(dev)?;
        self.download_grad(out).map_err(dev)?;
        check_finite(total, out)
    }
}
