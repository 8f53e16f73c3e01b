//! CLUSTER subcommands, ASKING, READONLY and READWRITE.

use super::CommandSpec;

pub(crate) static COMMANDS: &[CommandSpec] = &[];
