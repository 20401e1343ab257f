//! Every TRM op, one file per family, named like its shader: the GPU launcher and the plain-Rust CPU twin
//! (forward and backward) side by side. CPU twins are generic over `Real` so tests can run them in f64.

pub mod attention;
pub mod elementwise;
pub mod embed;
pub mod loss;
pub mod matmul;
pub mod native;
pub mod norm;
pub mod optim;
pub mod rope;
pub mod swiglu;

/// The float type of a CPU twin: f32 (what the GPU computes) or f64 (finite-difference checks).
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::iter::Sum
    + Send
    + Sync
    + 'static
{
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn atan2(self, x: Self) -> Self;
    fn abs(self) -> Self;
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    fn max(self, o: Self) -> Self {
        if o > self {
            o
        } else {
            self
        }
    }
    fn sigmoid(self) -> Self {
        Self::one() / (Self::one() + (-self).exp())
    }
    fn sign(self) -> Self {
        if self > Self::zero() {
            Self::one()
        } else if self < Self::zero() {
            -Self::one()
        } else {
            Self::zero()
        }
    }
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn atan2(self, x: Self) -> Self {
                <$t>::atan2(self, x)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// Workgroup size of the element-wise kernels.
pub const WG: usize = 256;
