//! The trainer: seeded minibatches, a [`Backend`]'s deterministic batch gradient, the core's
//! Adam (with warm-up and global-norm clipping) and EMA, crash-safe checkpoints and resume.
//!
//! Everything a step does is a pure function of (configuration, model parameters, optimizer
//! state, step number): minibatch `n` is drawn by the data source from its seed and `n`, and
//! the loss's random draws for point `i` of it come from stream `(seed + 1, n·B + i)`. So the
//! trained parameters are the same bits for any thread count, and a run resumed from a
//! checkpoint ends with the same bits as an uninterrupted one.

pub mod checkpoint;

use flowscore::Error;
use flowscore::loss::Loss;
use flowscore::optim::{Adam, AdamConfig, Ema, StepReport};
use flowscore::params::Params;

use crate::backend::Backend;

pub use checkpoint::{Checkpoint, CheckpointError};

/// A source of minibatches: batch `n` of size `b` is a pure function of the source, `n` and `b`.
pub trait DataSource<const D: usize> {
    /// Fill `out` with minibatch `n` (its length is the batch size).
    fn batch(&self, n: u64, out: &mut [[f32; D]]);
}

/// Minibatches drawn with replacement from a fixed table of points: point k of batch n is row
/// ⌊u·N⌋ with u the uniform draw of stream (seed, n·B + k).
#[derive(Clone, Debug)]
pub struct Resample<'a, const D: usize> {
    rows: &'a [[f32; D]],
    seed: u64,
}

impl<'a, const D: usize> Resample<'a, D> {
    /// Draw from `rows` (must be non-empty) with `seed`.
    pub fn new(rows: &'a [[f32; D]], seed: u64) -> Option<Self> {
        (!rows.is_empty()).then_some(Self { rows, seed })
    }
}

impl<const D: usize> DataSource<D> for Resample<'_, D> {
    fn batch(&self, n: u64, out: &mut [[f32; D]]) {
        use flowscore::rng::{LaneSource, Streams};
        let b = out.len() as u64;
        let len = self.rows.len();
        for (k, o) in out.iter_mut().enumerate() {
            let mut s = Streams::<f64>::new(self.seed, n.wrapping_mul(b).wrapping_add(k as u64));
            let i = ((s.uniform() * len as f64) as usize).min(len - 1);
            *o = self.rows[i];
        }
    }
}

/// The trainer's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Points per minibatch.
    pub batch: usize,
    /// Adam's settings (learning rate, warm-up, clipping, weight decay).
    pub adam: AdamConfig,
    /// EMA rate (score_sde: 0.999 VE, 0.9999 VP); `None` for no EMA.
    pub ema_rate: Option<f32>,
    /// The seed of the loss's random draws.
    pub seed: u64,
}

/// A model being trained: its parameters, optimizer and EMA state, and the step count.
#[derive(Debug)]
pub struct Trainer<const D: usize, M: Params, Lo: Loss<D, M>> {
    model: M,
    loss: Lo,
    config: TrainConfig,
    params: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    avg: Vec<f32>,
    grad: Vec<f32>,
    batch: Vec<[f32; D]>,
    adam: Adam,
    ema: Option<Ema>,
    step: u64,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The step number (1 for the first).
    pub step: u64,
    /// The minibatch's mean loss.
    pub loss: f64,
    /// Adam's report (learning rate, gradient norm, whether clipped).
    pub adam: StepReport,
}

impl<const D: usize, M: Params, Lo: Loss<D, M>> Trainer<D, M, Lo> {
    /// A trainer for `model` (its current parameters are the start) and `loss`.
    ///
    /// Errors: a batch of 0 points, or Adam/EMA settings the core rejects.
    pub fn new(model: M, loss: Lo, config: TrainConfig) -> Result<Self, Error> {
        if config.batch == 0 {
            return Err(Error::InvalidParameter { name: "batch", reason: "must be at least 1" });
        }
        let adam = Adam::new(config.adam)?;
        let ema = config.ema_rate.map(Ema::new).transpose()?;
        let p = M::LEN;
        let mut params = vec![0.0f32; p];
        model.write_params(&mut params)?;
        Ok(Self {
            model,
            loss,
            config,
            avg: params.clone(),
            params,
            m: vec![0.0; p],
            v: vec![0.0; p],
            grad: vec![0.0; p],
            batch: vec![[0.0; D]; config.batch],
            adam,
            ema,
            step: 0,
        })
    }

    /// One training step on minibatch `self.step()` of `data`.
    ///
    /// Errors: a non-finite loss or gradient (nothing is changed: the step can be retried with
    /// other settings), or the backend's errors.
    pub fn step<B: Backend<D, M, Lo>, S: DataSource<D>>(
        &mut self,
        backend: &mut B,
        data: &S,
    ) -> Result<Step, Error> {
        data.batch(self.step, &mut self.batch);
        let first = self.step.wrapping_mul(self.config.batch as u64);
        let seed = self.config.seed.wrapping_add(1);
        let total = backend.batch_gradient(
            &self.loss,
            &self.model,
            &self.batch,
            seed,
            first,
            &mut self.grad,
        )?;
        let scale = 1.0 / self.config.batch as f32;
        for g in self.grad.iter_mut() {
            *g *= scale;
        }
        let before = (self.params.clone(), self.m.clone(), self.v.clone(), self.adam.step_count());
        let report = self.adam.step(&mut self.params, &self.grad, &mut self.m, &mut self.v)?;
        if let Err(e) = self.model.read_params(&self.params) {
            // A step the model rejects (e.g. a log-scale past its bound) changes nothing.
            (self.params, self.m, self.v) = (before.0, before.1, before.2);
            self.adam.set_step_count(before.3);
            return Err(e);
        }
        if let Some(ema) = self.ema.as_mut() {
            ema.update(&mut self.avg, &self.params)?;
        } else {
            self.avg.copy_from_slice(&self.params);
        }
        self.step += 1;
        Ok(Step { step: self.step, loss: total / self.config.batch as f64, adam: report })
    }

    /// The number of steps taken.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// The model at the current parameters.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model at the EMA parameters (the current ones without EMA): the model to sample from.
    pub fn ema_model(&self) -> Result<M, Error> {
        let mut m = self.model;
        m.read_params(&self.avg)?;
        Ok(m)
    }

    /// The current parameters.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The loss.
    pub fn loss(&self) -> &Lo {
        &self.loss
    }

    /// The state to checkpoint.
    pub fn checkpoint(&self, model_tag: &str) -> Checkpoint {
        Checkpoint {
            model_tag: model_tag.to_string(),
            step: self.step,
            adam_steps: self.adam.step_count(),
            ema_updates: self.ema.as_ref().map_or(0, |e| e.updates()),
            params: self.params.clone(),
            m: self.m.clone(),
            v: self.v.clone(),
            avg: self.avg.clone(),
        }
    }

    /// Continue from `ck` (taken by [`Trainer::checkpoint`] of a trainer of the same model and
    /// configuration; `model_tag` names the model as it did then).
    ///
    /// Errors: [`CheckpointError::Shape`] when its model tag or parameter count differs, or its
    /// parameters are ones the model rejects.
    pub fn resume(&mut self, ck: &Checkpoint, model_tag: &str) -> Result<(), CheckpointError> {
        if ck.model_tag != model_tag {
            return Err(CheckpointError::Shape(format!(
                "the checkpoint is of `{}`, this run trains `{model_tag}`",
                ck.model_tag
            )));
        }
        let p = M::LEN;
        if ck.params.len() != p || ck.m.len() != p || ck.v.len() != p || ck.avg.len() != p {
            return Err(CheckpointError::Shape(format!(
                "the checkpoint holds {} parameters, the model has {p}",
                ck.params.len()
            )));
        }
        let mut model = self.model;
        model.read_params(&ck.params).map_err(|e| CheckpointError::Shape(e.to_string()))?;
        self.model = model;
        self.params.copy_from_slice(&ck.params);
        self.m.copy_from_slice(&ck.m);
        self.v.copy_from_slice(&ck.v);
        self.avg.copy_from_slice(&ck.avg);
        self.adam.set_step_count(ck.adam_steps);
        if let Some(e) = self.ema.as_mut() {
            e.set_updates(ck.ema_updates);
        }
        self.step = ck.step;
        Ok(())
    }
}
