//! Where training runs: burn's pure-Rust `flex` CPU backend by default, CUDA or wgpu when
//! Kiln is built with the `cuda` or `wgpu` feature.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// The compute device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// The CPU, with burn's `flex` backend on all cores.
    #[default]
    Cpu,
    /// The first CUDA GPU (needs the `cuda` feature).
    Cuda,
    /// The default wgpu adapter: Vulkan, Metal or DirectX (needs the `wgpu` feature).
    Wgpu,
}

impl Compute {
    /// The burn device, or why it is not available in this build.
    pub fn device(self) -> Result<Device, String> {
        match self {
            Compute::Cpu => Ok(Device::flex()),
            Compute::Cuda => cuda(),
            Compute::Wgpu => wgpu(),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, String> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device, String> {
    Err("train.device = \"cuda\" needs a Kiln built with CUDA: cargo install --path crates/kiln-cli --features cuda".into())
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device, String> {
    Ok(Device::wgpu(Default::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device, String> {
    Err("train.device = \"wgpu\" needs a Kiln built with wgpu: cargo install --path crates/kiln-cli --features wgpu".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available() {
        assert!(Compute::Cpu.device().is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        assert!(
            Compute::Cuda
                .device()
                .unwrap_err()
                .contains("--features cuda")
        );
    }
}
