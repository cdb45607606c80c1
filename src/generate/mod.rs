//! (skeleton: to be written)
