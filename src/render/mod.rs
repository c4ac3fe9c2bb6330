//! The renderers: one module per output format.

pub mod check;
pub mod html;
pub mod json;
pub mod text;
pub mod zeek;
