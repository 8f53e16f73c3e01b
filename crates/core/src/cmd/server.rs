//! (server command family: filled in by its owner.)

use super::CommandSpec;

pub(crate) static COMMANDS: &[CommandSpec] = &[];
