//! The sandbox comparison's input and its in-component half.

use crate::measure;
use anyhow::{Context, ensure};
use std::path::Path;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The simulator's first `issues` issues as one `issuesV2` answer, as Wiz sends it.
pub fn issues_page(seed: u64, issues: u64) -> Vec<u8> {
    let tenant = wiz_sim::Tenant {
        seed,
        issues: issues.max(1),
    };
    let nodes: Vec<serde_json::Value> = (0..tenant.issues).map(|i| tenant.issue_node(i)).collect();
    serde_json::json!({"data": {"issues": {
        "nodes": nodes,
        "pageInfo": {"hasNextPage": true, "endCursor": "next"},
    }}})
    .to_string()
    .into_bytes()
}

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// The `parse-page` command component, compiled once with the host's engine settings.
pub struct ParsePage {
    engine: Engine,
    component: Component,
    linker: Linker<Wasi>,
}

impl ParsePage {
    /// Compiles the component at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let engine = Engine::new(&connector_host::plugin::runtime::engine_config())?;
        let component = Component::from_file(&engine, path)
            .map_err(|e| anyhow::anyhow!("compile {}: {e:#}", path.display()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Ok(ParsePage {
            engine,
            component,
            linker,
        })
    }

    /// Runs the command over `page` `passes` times in a fresh instance; returns the CPU
    /// time of the run (instantiation excluded) and the findings of one pass.
    pub fn run(&self, page: Vec<u8>, passes: u32) -> anyhow::Result<(Duration, usize)> {
        let stdout = MemoryOutputPipe::new(4096);
        let stderr = MemoryOutputPipe::new(4096);
        let ctx = WasiCtxBuilder::new()
            .args(&["parse-page", &passes.to_string()])
            .stdin(MemoryInputPipe::new(page))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut store = Store::new(
            &self.engine,
            Wasi {
                ctx,
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(u64::MAX);
        let command = Command::instantiate(&mut store, &self.component, &self.linker)?;
        let start = measure::thread_cpu();
        let outcome = command.wasi_cli_run().call_run(&mut store)?;
        let cpu = measure::thread_cpu() - start;
        let printed = String::from_utf8_lossy(&stdout.contents())
            .trim()
            .to_string();
        ensure!(
            outcome.is_ok(),
            "parse-page failed: {}",
            String::from_utf8_lossy(&stderr.contents())
        );
        let findings = printed
            .parse()
            .with_context(|| format!("parse-page printed {printed:?}"))?;
        Ok((cpu, findings))
    }
}
