//! FUNCTION libraries (Redis 7.0): loading one (`#!lua name=<lib>` metadata, then its code
//! run once with `redis.register_function`), replacing, deleting, and the DUMP payload.
//!
//! Errors are Redis's texts without the `ERR ` code; the caller adds it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Value};

use super::api::raise_if;
use super::convert::error_table;
use super::engine::{Engine, LibFunction, Library};
use super::shebang::{set_flag, ScriptFlags};

/// RDB opcode of one library in a FUNCTION DUMP payload (`RDB_OPCODE_FUNCTION2`).
pub(crate) const OPCODE_FUNCTION2: u8 = 245;

const NAME_RULE: &str = "Library names can only contain letters, numbers, or underscores(_) \
                         and must be at least one character long";

/// Loads (or with `replace`, replaces) the library `code` declares; its name.
pub(crate) fn load(engine: &mut Engine, code: &Bytes, replace: bool) -> Result<String, String> {
    let (name, body_at) = metadata(code)?;
    if engine.libraries.contains_key(&name) && !replace {
        return Err(format!("Library '{name}' already exists"));
    }
    let chunk = engine.compile_in(&code[body_at..], "@user_function", &engine.load_env);
    let chunk = chunk.map_err(|e| format!("Error compiling function: {e}"))?;
    let functions = register_all(engine, chunk)?;
    if functions.is_empty() {
        return Err("No functions registered".into());
    }
    let taken = functions.keys().find(|f| {
        engine
            .function_library
            .get(*f)
            .is_some_and(|lib| *lib != name)
    });
    if let Some(f) = taken {
        return Err(format!("Function {f} already exists"));
    }
    delete(engine, &name);
    for f in functions.keys() {
        engine.function_library.insert(f.clone(), name.clone());
    }
    let library = Library {
        code: code.clone(),
        functions,
    };
    engine.libraries.insert(name.clone(), library);
    Ok(name)
}

/// The library name and where its code starts (the shebang's line feed stays, for line
/// numbers), from `#!<engine> name=<name>`.
pub(crate) fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_ascii_whitespace();
    let engine_name = parts.next().unwrap_or("#!")[2..].to_string();
    let mut name = None;
    for part in parts {
        let is_name = part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=");
        match (is_name, &name) {
            (true, None) => name = Some(part[5..].to_string()),
            (true, Some(_)) => {
                return Err("Invalid metadata value, name argument was given multiple times".into())
            }
            (false, _) => return Err(format!("Invalid metadata value given: {part}")),
        }
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(NAME_RULE.into());
    }
    if !engine_name.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine_name}' not found"));
    }
    Ok((name, end))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Runs a library's top level with `redis.register_function` collecting its functions.
fn register_all(engine: &Engine, chunk: Function) -> Result<BTreeMap<String, LibFunction>, String> {
    let lua = &engine.lua;
    let registered = RefCell::new(BTreeMap::new());
    let outcome = lua.scope(|scope| {
        let api = super::api::redis_table(lua)?;
        let register = scope.create_function(|lua, args: MultiValue| {
            let result = register(lua, args, &mut registered.borrow_mut());
            raise_if(lua, result)
        })?;
        api.raw_set("register_function", register)?;
        let loader: Function = lua.registry_value(&engine.loader)?;
        loader.call::<(bool, Value)>((chunk, api))
    });
    match outcome {
        Ok((true, _)) => Ok(registered.into_inner()),
        Ok((false, Value::Table(t))) => {
            let msg = t.raw_get::<String>("err").unwrap_or_default();
            Err(format!("Error registering functions: {msg}"))
        }
        Ok((false, other)) => Err(format!("Error registering functions: {other:?}")),
        Err(e) => Err(format!("Error registering functions: {e}")),
    }
}

/// One `redis.register_function(name, f)` or `redis.register_function{…}` call.
fn register(
    lua: &Lua,
    args: MultiValue,
    registered: &mut BTreeMap<String, LibFunction>,
) -> mlua::Result<(Value, bool)> {
    let parsed = match args.len() {
        1 => named_args(&args[0]),
        2 => positional_args(&args[0], &args[1]),
        _ => Err("wrong number of arguments to redis.register_function"),
    };
    let (name, function, flags, description) = match parsed {
        Ok(parsed) => parsed,
        Err(msg) => return Ok((error_table(lua, &format!("-ERR {msg}"))?, true)),
    };
    let failure = if !valid_name(&name) {
        Some(NAME_RULE)
    } else if registered.contains_key(&name) {
        Some("Function already exists in the library")
    } else {
        None
    };
    if let Some(msg) = failure {
        return Ok((error_table(lua, &format!("-ERR {msg}"))?, true));
    }
    let function = lua.create_registry_value(function)?;
    let entry = LibFunction {
        function,
        flags,
        description,
    };
    registered.insert(name, entry);
    Ok((Value::Nil, false))
}

type Registration = (String, Function, ScriptFlags, Option<String>);

fn positional_args(name: &Value, f: &Value) -> Result<Registration, &'static str> {
    let Some(name) = lua_string(name) else {
        return Err("first argument to redis.register_function must be a string");
    };
    let Value::Function(f) = f else {
        return Err("second argument to redis.register_function must be a function");
    };
    Ok((name, f.clone(), ScriptFlags::default(), None))
}

fn named_args(table: &Value) -> Result<Registration, &'static str> {
    let Value::Table(t) = table else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut callback, mut flags, mut description) = (None, None, None, None);
    for pair in t.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
        let Some(key) = lua_string(&key) else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        match key.to_ascii_lowercase().as_str() {
            "function_name" => {
                name = Some(lua_string(&value).ok_or(
                    "function_name argument given to redis.register_function must be a string",
                )?)
            }
            "description" => {
                description = Some(lua_string(&value).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?)
            }
            "callback" => match value {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "flags" => flags = Some(function_flags(&value)?),
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, callback, flags.unwrap_or_default(), description))
}

fn function_flags(value: &Value) -> Result<ScriptFlags, &'static str> {
    let Value::Table(t) = value else {
        return Err(
            "flags argument to redis.register_function must be a table representing function flags",
        );
    };
    let mut flags = ScriptFlags::default();
    for item in t.sequence_values::<Value>() {
        let name = item.ok().as_ref().and_then(lua_string);
        let name = name.ok_or("unknown flag given")?.to_ascii_lowercase();
        set_flag(&mut flags, &name).map_err(|_| "unknown flag given")?;
    }
    Ok(flags)
}

fn lua_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy().to_string()),
        _ => None,
    }
}

/// Removes a library and its functions; whether it existed.
pub(crate) fn delete(engine: &mut Engine, name: &str) -> bool {
    let Some(library) = engine.libraries.remove(name) else {
        return false;
    };
    for (f, entry) in library.functions {
        engine.function_library.remove(&f);
        let _ = engine.lua.remove_registry_value(entry.function);
    }
    true
}

/// How FUNCTION RESTORE joins a payload's libraries to the loaded ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// The libraries by name and each function's library: what a restore stages and swaps.
type LibrarySet = (BTreeMap<String, Library>, HashMap<String, String>);

/// FUNCTION RESTORE's all or nothing, as Redis's: every library is first loaded on its own
/// (compile errors, duplicates within the payload), then joined to the loaded ones, refused
/// if a library exists (unless replacing) or a function name is taken by another library;
/// any error leaves the libraries as they were.
pub(crate) fn restore(
    engine: &mut Engine,
    codes: &[Bytes],
    policy: RestorePolicy,
) -> Result<(), String> {
    let loaded = swap_libraries(engine, Default::default());
    let staged = codes
        .iter()
        .try_for_each(|code| load(engine, code, false).map(drop));
    let staged_set = swap_libraries(engine, loaded);
    let joined = staged.and_then(|()| check_join(engine, &staged_set, policy));
    if let Err(e) = joined {
        discard(engine, staged_set);
        return Err(e);
    }
    let replaced: Vec<String> = match policy {
        RestorePolicy::Flush => engine.libraries.keys().cloned().collect(),
        _ => staged_set.0.keys().cloned().collect(),
    };
    for name in replaced {
        delete(engine, &name);
    }
    let (libraries, functions) = staged_set;
    engine.libraries.extend(libraries);
    engine.function_library.extend(functions);
    debug_assert!(engine
        .function_library
        .values()
        .all(|l| engine.libraries.contains_key(l)));
    Ok(())
}

fn swap_libraries(engine: &mut Engine, set: LibrarySet) -> LibrarySet {
    let libraries = std::mem::replace(&mut engine.libraries, set.0);
    let functions = std::mem::replace(&mut engine.function_library, set.1);
    (libraries, functions)
}

/// Libraries' names first, then function names, as Redis's `libraryJoin` checks them.
fn check_join(engine: &Engine, staged: &LibrarySet, policy: RestorePolicy) -> Result<(), String> {
    if policy == RestorePolicy::Flush {
        return Ok(());
    }
    if policy == RestorePolicy::Append {
        if let Some(name) = staged.0.keys().find(|n| engine.libraries.contains_key(*n)) {
            return Err(format!("Library {name} already exists"));
        }
    }
    let taken = staged.1.keys().find(|f| {
        engine
            .function_library
            .get(*f)
            .is_some_and(|lib| !staged.0.contains_key(lib))
    });
    match taken {
        Some(f) => Err(format!("Function {f} already exists")),
        None => Ok(()),
    }
}

/// Frees what a failed restore staged.
fn discard(engine: &mut Engine, staged: LibrarySet) {
    let loaded = swap_libraries(engine, staged);
    flush(engine);
    swap_libraries(engine, loaded);
}

/// FUNCTION FLUSH.
pub(crate) fn flush(engine: &mut Engine) {
    let names: Vec<String> = engine.libraries.keys().cloned().collect();
    for name in names {
        delete(engine, &name);
    }
    engine.lua.expire_registry_values();
}

/// The function named `name`.
pub(crate) fn find<'a>(engine: &'a Engine, name: &str) -> Option<&'a LibFunction> {
    let library = engine.function_library.get(name)?;
    Some(&engine.libraries[library].functions[name])
}
