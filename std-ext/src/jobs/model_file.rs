//! A model file written by `flowscore train`, read once for every command that takes
//! `--model` (`eval`, `sample`, `loglik`).
//!
//! The file's kind and shapes are found by loading it as each model `flowscore train` writes
//! ([`super::train`]) in turn: the core's loader checks every shape, so a file loads as exactly
//! one of them or is refused with the loader's reason. A command then hands the loaded model to
//! a [`UseModel`], which is generic over the model's type, so each command is written once for
//! every flow and once for every score network.

use std::path::Path;

use anyhow::{Context, bail};
use flowscore::flow::Bijector;
use flowscore::format::{self, Standardize};
use flowscore::score::ScoreModel;
use flowscore::sde::{SAMPLING_EPS_VE, SAMPLING_EPS_VP, Sde, SubVp, Ve, Vp};

use super::train::{MafSmall, MafStack, RealNvp, ScoreNet2, ScoreNetSmall, SplineStack};

/// The loaded model, one variant per type `flowscore train` writes (boxed: the larger ones
/// hold tens of thousands of parameters).
#[derive(Debug)]
enum Trained {
    RealNvp(Box<RealNvp>),
    Maf(Box<MafStack>),
    MafSmall(Box<MafSmall>),
    Spline(Box<SplineStack>),
    ScoreVp(Box<ScoreNet2<Vp>>),
    ScoreVe(Box<ScoreNet2<Ve>>),
    ScoreSubVp(Box<ScoreNet2<SubVp>>),
    SmallVp(Box<ScoreNetSmall<Vp>>),
    SmallVe(Box<ScoreNetSmall<Ve>>),
    SmallSubVp(Box<ScoreNetSmall<SubVp>>),
}

/// What a command does with a model file, for any flow or any score network.
pub trait UseModel {
    /// The command's result.
    type Out;
    /// Uses a flow x = f(z), z ~ N(0, I), in standardised coordinates.
    fn flow<B: Bijector<2> + Sync>(self, flow: &B, file: &ModelFile) -> Self::Out;
    /// Uses a score network trained under `sde`; `sampling_eps` is the SDE's usual end time of
    /// sampling (score_sde's: 1e-3 for VP and sub-VP, 1e-5 for VE).
    fn score<M: ScoreModel<2> + Sync, S: Sde + Copy + Sync>(
        self,
        model: &M,
        sde: S,
        sampling_eps: f32,
        file: &ModelFile,
    ) -> Self::Out;
}

/// A model file, read and checked.
#[derive(Debug)]
pub struct ModelFile {
    path: String,
    kind: &'static str,
    standardize: Standardize<2>,
    model: Trained,
}

impl ModelFile {
    /// Reads and loads the file. Errors: unreadable; not a model file (magic, version,
    /// checksum, truncation: the loader's reason); a model file of a model this build does not
    /// use (not one `flowscore train` writes).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Loads a model file's bytes; `path` names it in messages.
    pub fn from_bytes(path: &str, bytes: &[u8]) -> anyhow::Result<Self> {
        let mut first_err = None;
        macro_rules! try_load {
            ($t:ty, $variant:ident, $kind:expr) => {
                match format::load::<$t, 2>(bytes) {
                    Ok((m, standardize)) => {
                        return Ok(Self {
                            path: path.to_string(),
                            kind: $kind,
                            standardize,
                            model: Trained::$variant(Box::new(m)),
                        });
                    }
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            };
        }
        try_load!(RealNvp, RealNvp, "realnvp");
        try_load!(MafStack, Maf, "maf");
        try_load!(MafSmall, MafSmall, "maf (hidden 16)");
        try_load!(SplineStack, Spline, "spline");
        try_load!(ScoreNet2<Vp>, ScoreVp, "scorenet (vp)");
        try_load!(ScoreNet2<Ve>, ScoreVe, "scorenet (ve)");
        try_load!(ScoreNet2<SubVp>, ScoreSubVp, "scorenet (subvp)");
        try_load!(ScoreNetSmall<Vp>, SmallVp, "scorenet (hidden 16, vp)");
        try_load!(ScoreNetSmall<Ve>, SmallVe, "scorenet (hidden 16, ve)");
        try_load!(ScoreNetSmall<SubVp>, SmallSubVp, "scorenet (hidden 16, subvp)");
        // A file-level error is the same for every type; any other is a shape or kind that
        // differs from every model here.
        match first_err {
            Some(e)
                if [
                    format::BAD_MAGIC,
                    format::BAD_CHECKSUM,
                    format::TRUNCATED,
                    format::TRAILING,
                    format::BAD_VERSION,
                ]
                .contains(&e) =>
            {
                bail!("{path}: not a usable model file: {e}")
            }
            _ => {
                bail!("{path}: a model this build does not use (not one `flowscore train` writes)")
            }
        }
    }

    /// The file's path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The model's name (`realnvp`, `maf`, …, `scorenet (vp)`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the model is a flow (an exact density) rather than a score network.
    pub fn is_flow(&self) -> bool {
        matches!(
            self.model,
            Trained::RealNvp(_) | Trained::Maf(_) | Trained::MafSmall(_) | Trained::Spline(_)
        )
    }

    /// The data standardisation stored with the model (data units ↔ the model's).
    pub fn standardize(&self) -> &Standardize<2> {
        &self.standardize
    }

    /// Hands the model, at its type, to `u`.
    pub fn with<U: UseModel>(&self, u: U) -> U::Out {
        match &self.model {
            Trained::RealNvp(m) => u.flow(&**m, self),
            Trained::Maf(m) => u.flow(&**m, self),
            Trained::MafSmall(m) => u.flow(&**m, self),
            Trained::Spline(m) => u.flow(&**m, self),
            Trained::ScoreVp(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VP, self),
            Trained::ScoreVe(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VE, self),
            Trained::ScoreSubVp(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VP, self),
            Trained::SmallVp(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VP, self),
            Trained::SmallVe(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VE, self),
            Trained::SmallSubVp(m) => u.score(&**m, m.conditioning.0, SAMPLING_EPS_VP, self),
        }
    }
}
