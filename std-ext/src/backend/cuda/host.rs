//! The kernels compiled as host C++ (feature `host-kernels`), run with the launch sequence of
//! [`super::CudaBackend`]: what the tests compare with the CPU backend on machines without a
//! GPU.

use flowscore::Error;
use flowscore::loss::Dsm;
use flowscore::params::Params;
use flowscore::score::{ScoreNet, SdeTime};

use super::{CHUNK, CudaError, DsmSpec, GpuSde, check_finite};

unsafe extern "C" {
    fn fs_host_dsm_gradient(
        params: *const f32,
        freqs: *const f32,
        data: *const f32,
        n: i32,
        d: i32,
        f: i32,
        h: i32,
        hidden_layers: i32,
        act: i32,
        sde_kind: i32,
        sde_c0: f32,
        sde_c1: f32,
        sde_c2: f32,
        eps: f32,
        t_max: f32,
        weighting: i32,
        feature: i32,
        time_scale: f32,
        inverse_sigma: i32,
        seed: u64,
        first_index: u64,
        calls: *const i32,
        ncalls: i32,
        p: i32,
        chunk: i32,
        grad_out: *mut f32,
        loss_out: *mut f64,
    );
}

/// The DSM gradient sum of `model` over `batch` (point i drawing from stream
/// `(seed, first_index + i)`) into `out`, computed by the host-compiled kernels; returns the
/// loss sum. The same contract as [`crate::backend::Backend::batch_gradient`].
///
/// Errors: [`CudaError::Unsupported`] for a model the kernels do not implement, a wrong `out`
/// length or a batch too large for `i32` indices (as `Unsupported`), a non-finite loss or
/// gradient (as the CPU backend: [`Error::NonFinite`], wrapped in `Ok(Err(..))`).
pub fn dsm_gradient<
    S: GpuSde,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
>(
    loss: &Dsm<S>,
    model: &ScoreNet<SdeTime<S>, D, F, IN, H, EXTRA>,
    batch: &[[f32; D]],
    seed: u64,
    first_index: u64,
    out: &mut [f32],
) -> Result<Result<f64, Error>, CudaError> {
    let spec = DsmSpec::new(model, loss)?;
    if out.len() != spec.p {
        return Err(CudaError::Unsupported("gradient length differs from the parameter count"));
    }
    let n = i32::try_from(batch.len()).map_err(|_| CudaError::Unsupported("batch size"))?;
    let mut params = vec![0.0f32; spec.p];
    if model.write_params(&mut params).is_err() {
        return Err(CudaError::Unsupported("parameters"));
    }
    let flat: Vec<f32> = batch.iter().flatten().copied().collect();
    let (kind, c0, c1, c2) = spec.sde;
    let mut total = 0.0f64;
    // SAFETY: every pointer is to a live buffer of the length the harness reads or writes:
    // params p, freqs f, data n·d, calls 5·ncalls, grad_out p (checked above), loss_out one.
    unsafe {
        fs_host_dsm_gradient(
            params.as_ptr(),
            spec.freqs.as_ptr(),
            flat.as_ptr(),
            n,
            spec.d,
            spec.f,
            spec.h,
            spec.hidden_layers,
            spec.act,
            kind,
            c0,
            c1,
            c2,
            spec.eps,
            spec.t_max,
            spec.weighting,
            spec.feature,
            spec.time_scale,
            spec.inverse_sigma,
            seed,
            first_index,
            spec.calls.as_ptr(),
            spec.ncalls(),
            spec.p as i32,
            CHUNK as i32,
            out.as_mut_ptr(),
            &mut total,
        );
    }
    Ok(check_finite(total, out))
}
