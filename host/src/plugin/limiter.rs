//! What one plugin call may hold, counted for the whole call rather than per memory: a
//! component may instantiate several core modules, each with memories and tables of its
//! own, and every one of them draws on the same budget. Host-side state a plugin can make
//! the host keep (resource handles, header maps) is capped too.

use wasmtime::ResourceLimiter;

/// Most core instances one call may create (the Wiz component needs a handful).
pub const MAX_INSTANCES: usize = 64;
/// Most linear memories one call may create, whatever their size.
pub const MAX_MEMORIES: usize = 16;
/// Most tables one call may create.
pub const MAX_TABLES: usize = 64;
/// Most table elements in all of a call's tables together (a pointer each).
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Most resource handles (requests, responses, streams, header maps) the host holds for
/// one call at once.
pub const MAX_RESOURCES: usize = 4096;
/// Largest header map one request or response may build, in bytes of its in-memory form.
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;

/// Counts every memory and table of one call against one budget.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    memory_budget: usize,
    memory_used: usize,
    table_used: usize,
    /// The growth last allowed, taken back if the engine could not grow after all.
    last_memory_growth: usize,
    last_table_growth: usize,
}

impl CallLimiter {
    /// A call whose memories may hold `memory_budget` bytes in all.
    pub(crate) fn new(memory_budget: usize) -> Self {
        CallLimiter {
            memory_budget,
            memory_used: 0,
            table_used: 0,
            last_memory_growth: 0,
            last_table_growth: 0,
        }
    }
}

/// Allows growing by `current..desired` when the total stays within `budget`; records
/// the growth.
fn grow(used: &mut usize, last: &mut usize, current: usize, desired: usize, budget: usize) -> bool {
    let growth = desired.saturating_sub(current);
    match used.checked_add(growth) {
        Some(total) if total <= budget => {
            *used = total;
            *last = growth;
            true
        }
        _ => false,
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(grow(
            &mut self.memory_used,
            &mut self.last_memory_growth,
            current,
            desired,
            self.memory_budget,
        ))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used -= std::mem::take(&mut self.last_memory_growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(grow(
            &mut self.table_used,
            &mut self.last_table_growth,
            current,
            desired,
            MAX_TABLE_ELEMENTS,
        ))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_used -= std::mem::take(&mut self.last_table_growth);
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 * 1024;

    #[test]
    fn every_memory_draws_on_one_budget() {
        let mut limiter = CallLimiter::new(10 * PAGE);
        assert!(limiter.memory_growing(0, 6 * PAGE, None).unwrap());
        // A second memory gets what the first left, not a budget of its own.
        assert!(!limiter.memory_growing(0, 5 * PAGE, None).unwrap());
        assert!(limiter.memory_growing(0, 4 * PAGE, None).unwrap());
        assert!(!limiter.memory_growing(6 * PAGE, 7 * PAGE, None).unwrap());
    }

    #[test]
    fn a_growth_the_engine_could_not_make_is_given_back() {
        let mut limiter = CallLimiter::new(10 * PAGE);
        assert!(limiter.memory_growing(0, 8 * PAGE, None).unwrap());
        limiter
            .memory_grow_failed(wasmtime::Error::msg("no room"))
            .unwrap();
        assert!(limiter.memory_growing(0, 10 * PAGE, None).unwrap());
    }

    #[test]
    fn tables_share_one_element_budget() {
        let mut limiter = CallLimiter::new(PAGE);
        assert!(
            limiter
                .table_growing(0, MAX_TABLE_ELEMENTS - 10, None)
                .unwrap()
        );
        assert!(!limiter.table_growing(0, 11, None).unwrap());
        assert!(limiter.table_growing(0, 10, None).unwrap());
        assert!(
            !limiter
                .table_growing(usize::MAX - 1, usize::MAX, None)
                .unwrap()
        );
    }
}
