//! Segment-level tests of `Connection` and of the classifier over it.
