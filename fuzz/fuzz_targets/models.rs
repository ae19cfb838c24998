//! The model types the `model_load` fuzz target loads, and one valid value of each (the seed
//! corpus in `corpus/model_load/` holds their files). Shared with the root package's
//! `tests/format.rs`, which checks that the committed corpus files still load.

use flowscore::flow::Planar;
use flowscore::flow::actnorm::ActNorm;
use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::flow::lu::LuLinear;
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::radial::Radial;
use flowscore::flow::spline::SplineCoupling;
use flowscore::format::{Standardize, encoded_len, save};
use flowscore::nn::{Activation, Mlp1, Mlp2, TimeEmbedding, TimeFeature};
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::Vp;

/// A small RealNVP: two affine couplings with alternating masks.
pub type SmallRealNvp = [AffineCoupling<2, 2, Mlp2<2, 8, 2>>; 2];
/// A small spline stack: two couplings with 4 bins on [−3, 3].
pub type SmallSpline = [SplineCoupling<2, 4, 11, Mlp1<2, 8, 11>>; 2];
/// A mixed chain of the other layer kinds.
pub type Mixed = (ActNorm<2>, LuLinear<2>, Maf<2, 8, 4>, Permutation<2>, Planar<2>, Radial<2>);
/// A small VP score network (F = 2 frequencies, one hidden layer of 8).
pub type SmallScore = ScoreNet<SdeTime<Vp>, 2, 2, 6, 8, 0>;

/// The small RealNVP.
pub fn small_realnvp() -> SmallRealNvp {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        AffineCoupling::new(mask, Mlp2::init(Activation::Tanh, 10 + i as u64)).unwrap()
    })
}

/// The small spline stack.
pub fn small_spline() -> SmallSpline {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        SplineCoupling::new(mask, 3.0, Mlp1::init(Activation::Relu, 20 + i as u64)).unwrap()
    })
}

/// The mixed chain.
pub fn mixed() -> Mixed {
    (
        ActNorm::new([0.5, -0.25], [0.1, -0.2]).unwrap(),
        LuLinear::random_rotation(3).unwrap(),
        Maf::new(Mlp2::init(Activation::Silu, 4)),
        Permutation::reverse(),
        Planar::new([0.3, -0.7], [1.1, 0.4], 0.2).unwrap(),
        Radial::new([0.5, 0.5], 0.3, -0.1).unwrap(),
    )
}

/// The small score network.
pub fn small_score() -> SmallScore {
    let emb = TimeEmbedding::fourier(4.0, TimeFeature::Time { scale: 1.0 }, 5).unwrap();
    ScoreNet::init(Activation::Softplus, emb, SdeTime(Vp::default()), OutputScale::InverseSigma, 6)
}

/// The standardisation stored with every corpus file.
pub fn standardize() -> Standardize<2> {
    Standardize::new([0.25, -1.5], [2.0, 0.5]).unwrap()
}

/// The file of a model.
pub fn file_of<M: flowscore::format::ModelFormat>(model: &M) -> Vec<u8> {
    let s = standardize();
    let mut out = vec![0u8; encoded_len::<M, 2>(model, &s).unwrap()];
    let n = save::<M, 2>(model, &s, &mut out).unwrap();
    out.truncate(n);
    out
}

/// The valid files of the four types, in the order above.
pub fn valid_files() -> [Vec<u8>; 4] {
    [
        file_of(&small_realnvp()),
        file_of(&small_spline()),
        file_of(&mixed()),
        file_of(&small_score()),
    ]
}
