//! The environment, read once into a typed, validated [`Settings`].
//!
//! PLACEHOLDER: the foundation issue fills this module.
