// SPDX-License-Identifier: MIT OR Apache-2.0
//! What `ghostfaceswap` does off its streaming thread, without GStreamer: a worker that runs only
//! the latest job (source identity recomputation, and the generator in realtime mode), and the
//! cache of realtime results that later frames place with their own alignment.

pub mod realtime;
pub mod worker;

pub use realtime::{CachedSwap, SwapCache};
pub use worker::LatestWorker;
