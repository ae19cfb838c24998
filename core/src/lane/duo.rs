//! [`Duo`]: two lanes side by side, one lane type of twice the width.
//!
//! A chunk of a batch runs its whole computation (ten flow layers, a thousand sampler steps, an
//! adaptive ODE solve) as one chain of dependent operations. On one `f32x8` the processor
//! waits on each result (a `tanh` takes tens of cycles from input to output) while its other
//! execution units idle, and the next chunk, hundreds of instructions later, lies beyond what it
//! can look ahead. A `Duo<f32x8>` holds two such vectors and every operation is written once for
//! both: the two chains are independent, so one's latency hides behind the other's work.
//!
//! Every operation applies the inner lane's operation to each half, so each lane computes
//! exactly the bits it computes in any other lane type. The per-vector short paths of
//! [`crate::math`] test both halves together (a `Duo` takes the short path when all its lanes
//! can), which changes only the speed.

use core::ops::{
    Add, AddAssign, BitAnd, BitOr, BitXor, Div, DivAssign, Mul, MulAssign, Neg, Not, Shl, Shr, Sub,
    SubAssign,
};

use super::{Lane, Mask, UintLanes};

/// Two lanes (or masks, or integer lanes) side by side: lanes `0..N` are the first half, lanes
/// `N..2N` the second, where `N` is the inner type's lane count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Duo<L>(pub L, pub L);

/// Lane-wise binary operators, half by half.
macro_rules! duo_binop {
    ($($tr:ident $f:ident $bound:ident),*) => {$(
        impl<L: $bound<Output = L>> $tr for Duo<L> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, rhs: Self) -> Self {
                Duo(self.0.$f(rhs.0), self.1.$f(rhs.1))
            }
        }
    )*};
}
duo_binop!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div);
duo_binop!(BitAnd bitand BitAnd, BitOr bitor BitOr, BitXor bitxor BitXor);

/// Compound assignment, half by half.
macro_rules! duo_assign {
    ($($tr:ident $f:ident),*) => {$(
        impl<L: $tr> $tr for Duo<L> {
            #[inline(always)]
            fn $f(&mut self, rhs: Self) {
                self.0.$f(rhs.0);
                self.1.$f(rhs.1);
            }
        }
    )*};
}
duo_assign!(AddAssign add_assign, SubAssign sub_assign, MulAssign mul_assign, DivAssign div_assign);

impl<L: Neg<Output = L>> Neg for Duo<L> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Duo(-self.0, -self.1)
    }
}

impl<M: Not<Output = M>> Not for Duo<M> {
    type Output = Self;
    #[inline(always)]
    fn not(self) -> Self {
        Duo(!self.0, !self.1)
    }
}

impl<U: Shl<u32, Output = U>> Shl<u32> for Duo<U> {
    type Output = Self;
    #[inline(always)]
    fn shl(self, k: u32) -> Self {
        Duo(self.0 << k, self.1 << k)
    }
}

impl<U: Shr<u32, Output = U>> Shr<u32> for Duo<U> {
    type Output = Self;
    #[inline(always)]
    fn shr(self, k: u32) -> Self {
        Duo(self.0 >> k, self.1 >> k)
    }
}

impl<M: Mask> Mask for Duo<M> {
    #[inline(always)]
    fn any(self) -> bool {
        (self.0 | self.1).any()
    }
    #[inline(always)]
    fn all(self) -> bool {
        (self.0 & self.1).all()
    }
}

impl<U: UintLanes> UintLanes for Duo<U> {
    const LANES: usize = 2 * U::LANES;
    const WIDTH: u32 = U::WIDTH;
    #[inline(always)]
    fn splat_u64(v: u64) -> Self {
        Duo(U::splat_u64(v), U::splat_u64(v))
    }
    #[inline(always)]
    fn wrapping_add(self, rhs: Self) -> Self {
        Duo(self.0.wrapping_add(rhs.0), self.1.wrapping_add(rhs.1))
    }
    #[inline(always)]
    fn wrapping_sub(self, rhs: Self) -> Self {
        Duo(self.0.wrapping_sub(rhs.0), self.1.wrapping_sub(rhs.1))
    }
    #[inline(always)]
    fn extract_u64(self, i: usize) -> u64 {
        let i = i % Self::LANES;
        if i < U::LANES { self.0.extract_u64(i) } else { self.1.extract_u64(i - U::LANES) }
    }
    #[inline(always)]
    fn from_fn_u64(mut f: impl FnMut(usize) -> u64) -> Self {
        let a = U::from_fn_u64(&mut f);
        Duo(a, U::from_fn_u64(|i| f(i + U::LANES)))
    }
    #[inline(always)]
    fn from_fn_u64_split(mut f: impl FnMut(usize) -> u64) -> (Self, Self) {
        let (a0, a1) = U::from_fn_u64_split(&mut f);
        let (b0, b1) = U::from_fn_u64_split(|i| f(i + U::LANES));
        (Duo(a0, b0), Duo(a1, b1))
    }
}

impl<L: Lane> Lane for Duo<L> {
    type Scalar = L::Scalar;
    type Mask = Duo<L::Mask>;
    type Bits = Duo<L::Bits>;
    type U32s = Duo<L::U32s>;
    const LANES: usize = 2 * L::LANES;
    const INLINE_KERNELS: bool = L::INLINE_KERNELS;
    #[inline(always)]
    fn splat(x: L::Scalar) -> Self {
        Duo(L::splat(x), L::splat(x))
    }
    #[inline(always)]
    fn extract(self, i: usize) -> L::Scalar {
        let i = i % Self::LANES;
        if i < L::LANES { self.0.extract(i) } else { self.1.extract(i - L::LANES) }
    }
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> L::Scalar) -> Self {
        let a = L::from_fn(&mut f);
        Duo(a, L::from_fn(|i| f(i + L::LANES)))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Duo(self.0.sqrt(), self.1.sqrt())
    }
    #[inline(always)]
    fn lt(self, rhs: Self) -> Self::Mask {
        Duo(self.0.lt(rhs.0), self.1.lt(rhs.1))
    }
    #[inline(always)]
    fn le(self, rhs: Self) -> Self::Mask {
        Duo(self.0.le(rhs.0), self.1.le(rhs.1))
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> Self::Mask {
        Duo(self.0.gt(rhs.0), self.1.gt(rhs.1))
    }
    #[inline(always)]
    fn ge(self, rhs: Self) -> Self::Mask {
        Duo(self.0.ge(rhs.0), self.1.ge(rhs.1))
    }
    #[inline(always)]
    fn eq(self, rhs: Self) -> Self::Mask {
        Duo(self.0.eq(rhs.0), self.1.eq(rhs.1))
    }
    #[inline(always)]
    fn select(mask: Self::Mask, a: Self, b: Self) -> Self {
        Duo(L::select(mask.0, a.0, b.0), L::select(mask.1, a.1, b.1))
    }
    #[inline(always)]
    fn to_bits(self) -> Self::Bits {
        Duo(self.0.to_bits(), self.1.to_bits())
    }
    #[inline(always)]
    fn from_bits(bits: Self::Bits) -> Self {
        Duo(L::from_bits(bits.0), L::from_bits(bits.1))
    }
    #[inline(always)]
    fn unit_from_u32(u: Self::U32s) -> Self {
        Duo(L::unit_from_u32(u.0), L::unit_from_u32(u.1))
    }
}
