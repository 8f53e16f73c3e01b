//! The `#!lua flags=…` first line of a script (Redis 7.0): which engine, and the flags that
//! loosen or tighten what the script may do. A script without one runs in the compatible
//! mode of earlier versions (it may write, whatever the command's flags say).

/// What a script declared about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ScriptFlags {
    /// No shebang line: Redis 6's rules.
    pub(crate) compat: bool,
    pub(crate) no_writes: bool,
    pub(crate) allow_oom: bool,
    pub(crate) allow_stale: bool,
    pub(crate) no_cluster: bool,
    pub(crate) allow_cross_slot: bool,
}

/// The flags and the length of the shebang line (without its line feed, which stays so
/// that line numbers in errors match the user's), or Redis's error text (without `ERR`).
pub(crate) fn parse(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        let flags = ScriptFlags {
            compat: true,
            ..ScriptFlags::default()
        };
        return Ok((flags, 0));
    }
    let Some(len) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..len]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for name in list.split(',').filter(|f| !f.is_empty()) {
            set_flag(&mut flags, name)?;
        }
    }
    Ok((flags, len))
}

/// Sets one named flag (shared with `redis.register_function`'s flags).
pub(crate) fn set_flag(flags: &mut ScriptFlags, name: &str) -> Result<(), String> {
    match name {
        "no-writes" => flags.no_writes = true,
        "allow-oom" => flags.allow_oom = true,
        "allow-stale" => flags.allow_stale = true,
        "no-cluster" => flags.no_cluster = true,
        "allow-cross-slot-keys" => flags.allow_cross_slot = true,
        _ => return Err(format!("Unexpected flag in script shebang: {name}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shebangs_as_redis() {
        assert!(parse(b"return 1").unwrap().0.compat);
        let (flags, len) = parse(b"#!lua flags=no-writes,allow-cross-slot-keys\nreturn 1").unwrap();
        assert!(flags.no_writes && flags.allow_cross_slot && !flags.compat);
        assert_eq!(len, 43);
        assert_eq!(parse(b"#!lua\n").unwrap(), (ScriptFlags::default(), 5));
        let err = |body: &[u8]| parse(body).unwrap_err();
        assert_eq!(err(b"#!lua"), "Invalid script shebang");
        assert_eq!(
            err(b"#!python\n"),
            "Unexpected engine in script shebang: #!python"
        );
        assert_eq!(err(b"#!lua foo=1\n"), "Unknown lua shebang option: foo=1");
        assert_eq!(
            err(b"#!lua flags=bad\n"),
            "Unexpected flag in script shebang: bad"
        );
    }
}
