//! The random source: the thread CSPRNG, or — in debug builds only, for tests — a replayed byte
//! stream from `SSRS_TEST_RNG_HEX` (test-only; ignored in release builds).

use std::convert::Infallible;

use rand::rngs::ThreadRng;

/// Test-only variable: hex bytes replayed as the random stream (debug builds only).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub const TEST_RNG_ENV: &str = "SSRS_TEST_RNG_HEX";

/// The RNG kubeseal seals with.
pub enum AppRng {
    /// The operating system seeded thread CSPRNG.
    Thread(ThreadRng),
    /// A fixed stream (tests; debug builds only).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    Fixed {
        /// The bytes.
        bytes: Vec<u8>,
        /// Read position.
        pos: usize,
    },
}

impl AppRng {
    /// The thread RNG, or the pinned stream in debug builds when `SSRS_TEST_RNG_HEX` is set.
    pub fn from_env() -> anyhow::Result<Self> {
        #[cfg(debug_assertions)]
        if let Some(hex) = std::env::var_os(TEST_RNG_ENV) {
            let hex = hex.to_string_lossy().trim().to_string();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| anyhow::anyhow!("{TEST_RNG_ENV} is not hex"))
                })
                .collect::<anyhow::Result<Vec<u8>>>()?;
            return Ok(AppRng::Fixed { bytes, pos: 0 });
        }
        Ok(AppRng::Thread(rand::rng()))
    }
}

impl rand::TryRng for AppRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match self {
            AppRng::Thread(r) => {
                rand::Rng::fill_bytes(r, dst);
            }
            AppRng::Fixed { bytes, pos } => {
                // A replayed stream that runs out wraps around: tests pin only what they check.
                for b in dst.iter_mut() {
                    *b = bytes.get(*pos % bytes.len().max(1)).copied().unwrap_or(0);
                    *pos += 1;
                }
            }
        }
        Ok(())
    }
}

impl rand::TryCryptoRng for AppRng {}
