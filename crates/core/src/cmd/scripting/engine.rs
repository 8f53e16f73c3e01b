//! The node's Lua interpreter (one per node, as Redis has one): the sandbox, the script cache
//! keyed by SHA1, and the random stream scripts see.
//!
//! Scripts see only what Redis 7.0 leaves them: base functions without `print`, `dofile`,
//! `loadfile`, `require`; `string`, `table`, `math`, `coroutine` and `redis`; no `os`, `io`,
//! `debug`. Globals are read-only. Redis's extra libraries are here too: `bit`, `cjson`,
//! `cmsgpack` and `struct`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mlua::{Function, HookTriggers, Lua, LuaOptions, RegistryKey, StdLib, Table, Value, VmState};

use super::busy::ScriptWatch;

use super::rand48::Rand48;
use super::shebang::ScriptFlags;

/// Globals a script may read, besides `redis`, `KEYS` and `ARGV` (Redis 7.0's allow list).
const ALLOWED_GLOBALS: &[&str] = &[
    "assert",
    "collectgarbage",
    "coroutine",
    "error",
    "gcinfo",
    "getmetatable",
    "ipairs",
    "load",
    "loadstring",
    "math",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setmetatable",
    "string",
    "table",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
    "_VERSION",
    "_G",
];

/// One cached script: its compiled function and the flags its shebang declared.
pub(crate) struct Script {
    pub(crate) function: RegistryKey,
    pub(crate) flags: ScriptFlags,
}

/// The interpreter and what it keeps between calls.
pub(crate) struct Engine {
    pub(crate) lua: Lua,
    /// The read-only environment scripts run in.
    env: RegistryKey,
    /// `run(f, raw, ...)` from `lib.lua`.
    pub(crate) runner: RegistryKey,
    /// The real globals (KEYS and ARGV are set here before each EVAL).
    pub(crate) globals: RegistryKey,
    pub(crate) scripts: HashMap<String, Script>,
    /// The environment of a library's top level, and `load_library(f, api)` from `lib.lua`.
    pub(crate) load_env: RegistryKey,
    pub(crate) loader: RegistryKey,
    /// FUNCTION libraries by name, and each function's library.
    pub(crate) libraries: BTreeMap<String, Library>,
    pub(crate) function_library: HashMap<String, String>,
    /// What the driver sees of the running script, and its kill request.
    pub(crate) watch: Arc<ScriptWatch>,
}

/// How many Lua instructions run between two looks at the kill request: Redis's hook runs
/// every 100,000 too.
const HOOK_INSTRUCTIONS: u32 = 100_000;

/// A loaded FUNCTION library: its whole code (shebang included) and its functions.
pub(crate) struct Library {
    pub(crate) code: bytes::Bytes,
    pub(crate) functions: BTreeMap<String, LibFunction>,
}

/// One `redis.register_function` registration.
pub(crate) struct LibFunction {
    pub(crate) function: RegistryKey,
    pub(crate) flags: ScriptFlags,
    pub(crate) description: Option<String>,
}

impl Engine {
    pub(crate) fn new() -> Engine {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is only handed to clusterlab's own lib.lua (for the error
        // handler's `getinfo`) and removed from the globals before any script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        let built = Self::build(&lua).expect("the scripting sandbox loads");
        let [env, runner, globals, load_env, loader] = built;
        let watch = Arc::new(ScriptWatch::default());
        let hooked = Arc::clone(&watch);
        let triggers = HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS);
        lua.set_hook(triggers, move |lua, _| {
            if hooked.kill_requested() {
                return Err(super::api::killed_error(lua));
            }
            Ok(VmState::Continue)
        });
        Engine {
            lua,
            env,
            runner,
            globals,
            scripts: HashMap::new(),
            load_env,
            loader,
            libraries: BTreeMap::new(),
            function_library: HashMap::new(),
            watch,
        }
    }

    fn build(lua: &Lua) -> mlua::Result<[RegistryKey; 5]> {
        let real = lua.globals();
        let getinfo: Function = real.get::<Table>("debug")?.get("getinfo")?;
        let setfenv: Function = real.get("setfenv")?;
        let globals = lua.create_table()?;
        for name in ALLOWED_GLOBALS {
            globals.raw_set(*name, real.raw_get::<Value>(*name)?)?;
        }
        globals.raw_set("redis", super::api::redis_table(lua)?)?;
        globals.raw_set("bit", super::bitlib::bit_table(lua)?)?;
        globals.raw_set("cjson", super::cjson::cjson_table(lua)?)?;
        globals.raw_set("cmsgpack", super::cmsgpack::cmsgpack_table(lua)?)?;
        globals.raw_set("struct", super::structlib::struct_table(lua)?)?;
        let impl_table = super::api::impl_table(lua)?;
        let lib = lua
            .load(include_str!("lib.lua"))
            .set_name("@clusterlab_lib")
            .set_environment(globals.clone())
            .into_function()?;
        let (env, runner, load_env, loader): (Table, Function, Table, Function) =
            lib.call((impl_table.clone(), globals.clone(), getinfo, setfenv))?;
        lua.set_app_data(Rand48::default());
        Ok([
            lua.create_registry_value(env)?,
            lua.create_registry_value(runner)?,
            lua.create_registry_value(globals)?,
            lua.create_registry_value(load_env)?,
            lua.create_registry_value(loader)?,
        ])
    }

    /// Compiles a script body (after its shebang line) into a function of the sandbox.
    pub(crate) fn compile(&self, code: &[u8]) -> Result<RegistryKey, String> {
        let function = self.compile_in(code, "@user_script", &self.env)?;
        self.lua
            .create_registry_value(function)
            .map_err(|e| e.to_string())
    }

    /// Compiles `code` named `name` with the environment held at `env`.
    pub(crate) fn compile_in(
        &self,
        code: &[u8],
        name: &str,
        env: &RegistryKey,
    ) -> Result<Function, String> {
        let env: Table = self.lua.registry_value(env).map_err(|e| e.to_string())?;
        self.lua
            .load(code)
            .set_name(name)
            .set_environment(env)
            .into_function()
            .map_err(compile_error_text)
    }

    /// SCRIPT FLUSH: every cached script goes.
    pub(crate) fn flush(&mut self) {
        for (_, script) in self.scripts.drain() {
            let _ = self.lua.remove_registry_value(script.function);
        }
        self.lua.expire_registry_values();
    }
}

/// Lua's own message for a syntax error (mlua wraps it).
fn compile_error_text(e: mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => other.to_string(),
    }
}

/// Lowercase hex SHA1 of a script body, the name EVALSHA and SCRIPT EXISTS use.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
