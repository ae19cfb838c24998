use super::*;
use crate::flow::Affine;
use crate::flow::actnorm::ActNorm;
use crate::flow::coupling::{BinaryMask, DiagonalScaling};
use crate::flow::lu::LuLinear;
use crate::flow::permute::Permutation;
use crate::flow::radial::Radial;
use crate::flow::spline::SplineCoupling;
use crate::nn::{Activation, Mlp1};

type Small = (Affine<2>, ActNorm<2>, LuLinear<2>, Permutation<2>, Radial<2>, DiagonalScaling<2>);

fn small() -> Small {
    (
        Affine::new([-2.0, 0.75], [0.5, -1.0]).unwrap(),
        ActNorm::new([0.1, 0.2], [-0.3, 0.4]).unwrap(),
        LuLinear::from_params(
            [1, 0],
            [[0.0, 0.0], [0.5, 0.0]],
            [[0.0, 2.0], [0.0, 0.0]],
            [-1.5, 0.25],
        )
        .unwrap(),
        Permutation::reverse(),
        Radial::new([0.2, -0.1], 0.5, 0.25).unwrap(),
        DiagonalScaling::new([0.3, -0.2]).unwrap(),
    )
}

fn params_of<M: Params>(m: &M, out: &mut [f32]) {
    m.write_params(out).unwrap();
}

#[test]
fn writer_counts_and_refuses_overflow() {
    let mut w = Writer::counter();
    w.u32(7);
    w.f32(1.0);
    w.u8(1);
    assert_eq!((w.position(), w.error), (9, None));
    let mut buf = [0u8; 3];
    let mut w = Writer::new(&mut buf);
    w.u32(7);
    assert_eq!(w.error, Some(BUFFER_TOO_SMALL));
}

#[test]
fn reader_never_reads_past_its_end() {
    let mut r = Reader::new(&[1, 2, 3], TRUNCATED);
    assert_eq!(r.u32(), Err(TRUNCATED));
    assert_eq!(r.u16(), Ok(0x0201));
    assert_eq!(r.flag(), Err(BAD_CONFIG));
    assert_eq!(r.u8(), Err(TRUNCATED));
    assert!(r.is_empty());
    let nan = f32::NAN.to_le_bytes();
    let mut r = Reader::new(&nan, TRUNCATED);
    assert_eq!(r.params(&mut [0.0]), Err(NON_FINITE));
}

#[test]
fn chain_of_leaf_layers_round_trips() {
    let m = small();
    let s = Standardize::new([1.0, 2.0], [0.5, 4.0]).unwrap();
    let n = encoded_len(&m, &s).unwrap();
    let mut buf = [0u8; 512];
    assert_eq!(save(&m, &s, &mut buf), Ok(n));
    assert_eq!(n, 24 + description_len(&m).unwrap() + 16 + 4 * <Small as Params>::LEN);
    let (back, s2) = load::<Small, 2>(&buf[..n]).unwrap();
    assert_eq!(back, m);
    assert_eq!(s2, s);
    let (mut a, mut b) = ([0.0f32; <Small as Params>::LEN], [0.0f32; <Small as Params>::LEN]);
    params_of(&m, &mut a);
    params_of(&back, &mut b);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    // The values section is exactly the Params layout.
    let at = n - 4 - 4 * a.len();
    for (k, v) in a.iter().enumerate() {
        assert_eq!(buf[at + 4 * k..at + 4 * k + 4], v.to_le_bytes());
    }
}

#[test]
fn header_fields_are_where_the_table_says() {
    let m = Affine::<3>::new([1.0, 2.0, -4.0], [0.0; 3]).unwrap();
    let s = Standardize::<3>::identity();
    let mut buf = [0u8; 128];
    let n = save(&m, &s, &mut buf).unwrap();
    assert_eq!(buf[..4], MAGIC);
    assert_eq!(buf[4..6], VERSION.to_le_bytes());
    assert_eq!(buf[6], ModelKind::Flow as u8);
    assert_eq!(buf[8..12], 3u32.to_le_bytes());
    // Description: tag, D, three sign flags.
    assert_eq!(buf[12..16], 8u32.to_le_bytes());
    assert_eq!(buf[16..20], 6u32.to_le_bytes());
    assert_eq!(buf[20..28], [0x01, 3, 0, 0, 0, 0, 0, 1]);
    assert_eq!(n, 24 + 8 + 24 + 24);
    assert_eq!(buf[n - 4..n], checksum(&buf[..n - 4]).to_le_bytes());
}

#[test]
fn invalid_configurations_are_refused() {
    // A spline coupling whose stored bound is not positive.
    let net = Mlp1::<2, 4, 11>::init(Activation::Tanh, 1);
    let m =
        SplineCoupling::<2, 4, 11, _>::new(BinaryMask::alternating(0).unwrap(), 3.0, net).unwrap();
    let s = Standardize::<2>::identity();
    let mut buf = [0u8; 1024];
    let n = save(&m, &s, &mut buf).unwrap();
    let bound_at = PREFIX_LEN + 13;
    assert_eq!(buf[bound_at..bound_at + 4], 3.0f32.to_le_bytes());
    buf[bound_at..bound_at + 4].copy_from_slice(&(-1.0f32).to_le_bytes());
    let crc = checksum(&buf[..n - 4]).to_le_bytes();
    buf[n - 4..n].copy_from_slice(&crc);
    assert_eq!(load::<SplineCoupling<2, 4, 11, Mlp1<2, 4, 11>>, 2>(&buf[..n]), Err(BAD_CONFIG));
    // A permutation that repeats an index.
    let p = Permutation::<2>::reverse();
    let n = save(&p, &Standardize::<2>::identity(), &mut buf).unwrap();
    buf[PREFIX_LEN + 5..PREFIX_LEN + 9].copy_from_slice(&0u32.to_le_bytes());
    buf[PREFIX_LEN + 9..PREFIX_LEN + 13].copy_from_slice(&0u32.to_le_bytes());
    let crc = checksum(&buf[..n - 4]).to_le_bytes();
    buf[n - 4..n].copy_from_slice(&crc);
    assert_eq!(load::<Permutation<2>, 2>(&buf[..n]), Err(BAD_CONFIG));
}

#[test]
fn standardize_maps_both_ways() {
    let s = Standardize::new([1.0, -2.0], [2.0, 0.5]).unwrap();
    assert_eq!(s.to_model(&[3.0f32, -1.0]), [1.0, 2.0]);
    assert_eq!(s.to_data(&[1.0f32, 2.0]), [3.0, -1.0]);
    assert!(Standardize::new([0.0], [0.0]).is_err());
    assert!(Standardize::new([f32::NAN], [1.0]).is_err());
    assert_eq!(s.log_det_to_model(), -(2.0f64.ln() + 0.5f64.ln()));
}
