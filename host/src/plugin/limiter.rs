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
    memory: Pool,
    table_elements: Pool,
}

impl CallLimiter {
    /// A call whose memories may hold `memory_budget` bytes in all.
    pub(crate) fn new(memory_budget: usize) -> Self {
        CallLimiter {
            memory: Pool::of(memory_budget),
            table_elements: Pool::of(MAX_TABLE_ELEMENTS),
        }
    }

    /// What the call's memories hold now: their peak, since linear memory never shrinks.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory.used
    }
}

/// One budget that several memories (or tables) grow into.
#[derive(Debug)]
struct Pool {
    budget: usize,
    used: usize,
    /// The growth last allowed, given back if the engine could not grow after all.
    last_growth: usize,
}

impl Pool {
    fn of(budget: usize) -> Self {
        Pool {
            budget,
            used: 0,
            last_growth: 0,
        }
    }

    /// Allows growing one of them from `current` to `desired` when the total stays
    /// within the budget, and counts it.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let growth = desired.saturating_sub(current);
        match self.used.checked_add(growth) {
            Some(total) if total <= self.budget => {
                self.used = total;
                self.last_growth = growth;
                true
            }
            _ => false,
        }
    }

    /// Gives back the last growth, which the engine could not make.
    fn grow_failed(&mut self) {
        self.used -= std::mem::take(&mut self.last_growth);
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.memory.grow(current, desired))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.table_elements.grow(current, desired))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements.grow_failed();
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
