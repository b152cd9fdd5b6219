//! Test plugins that Rust cannot express, built from WebAssembly text: a core module
//! written here, wrapped into a component of the `connector` world by wit-component.

use anyhow::Context;
use std::path::Path;

/// Extra memories the many-memories plugin declares beside the canonical ABI's one.
const EXTRA_MEMORIES: u32 = 7;

/// Writes `many-memories.wasm` into `folder`: a plugin whose core module declares
/// [`EXTRA_MEMORIES`] memories besides the one the canonical ABI uses, and whose start
/// function fills each in turn, touching every 4 KiB page, until the host refuses to
/// grow it; then it traps. A host that limits each memory on its own lets it hold that
/// many times the limit; one budget for the whole call holds it to the limit.
pub fn build_many_memories(wit: &Path, folder: &Path) -> anyhow::Result<()> {
    let mut module = wat::parse_str(many_memories_wat(EXTRA_MEMORIES))
        .context("assemble the many-memories module")?;
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit).context("read the contract's WIT")?;
    let world = resolve.select_world(&[package], Some("connector"))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .encode()
        .context("encode the many-memories component")?;
    std::fs::create_dir_all(folder)?;
    std::fs::write(folder.join("many-memories.wasm"), component)?;
    Ok(())
}

/// The core module's text: the contract's exports (each traps; the start function never
/// lets them run) and a filler per extra memory.
fn many_memories_wat(extra: u32) -> String {
    let memories: String = (1..=extra).map(|m| format!("(memory $m{m} 0)\n")).collect();
    let fillers: String = (1..=extra).map(filler).collect();
    let calls: String = (1..=extra).map(|m| format!("(call $fill{m})\n")).collect();
    format!(
        r#"(module
  (memory (export "memory") 1)
  {memories}
  {fillers}
  (func $start {calls} unreachable)
  (start $start)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func (export "safe:connector/plugin@0.1.0#describe") (result i32) unreachable)
  (func (export "safe:connector/plugin@0.1.0#test-connection") (param i32 i32) (result i32)
    unreachable)
  (func (export "safe:connector/plugin@0.1.0#sync") (param i32 i32 i32 i32 i32) (result i32)
    unreachable)
)"#
    )
}

/// Grows memory `$m{m}` a page at a time until refused, writing a byte every 4 KiB so
/// the pages are resident.
fn filler(m: u32) -> String {
    format!(
        r#"(func $fill{m} (local $page i32) (local $at i32) (local $end i32)
    (block $full
      (loop $grow
        (local.set $page (memory.grow $m{m} (i32.const 1)))
        (br_if $full (i32.eq (local.get $page) (i32.const -1)))
        (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
        (local.set $end (i32.add (local.get $at) (i32.const 65536)))
        (loop $touch
          (i32.store8 $m{m} (local.get $at) (i32.const 1))
          (local.set $at (i32.add (local.get $at) (i32.const 4096)))
          (br_if $touch (i32.lt_u (local.get $at) (local.get $end))))
        (br $grow))))
"#
    )
}
