//! The CPU budget (`--cpu PCT`): nftop runs on the core that forwards the
//! router's packets, so a refresh that costs more than PCT % of one core
//! at the requested interval stretches the interval to what the budget
//! allows, and it shrinks back when refreshes get cheaper. The kernel's
//! dump is part of the cost (process CPU, user + system). Rates stay
//! exact: they use the measured time between dumps. A pure function of
//! the costs it is fed; the loop reads the clock.

#[derive(Clone, Copy, Debug)]
pub struct CpuBudget {
    /// Percent of one core; 0 = no budget.
    pub pct: u32,
    /// Smoothed CPU seconds per refresh (half the last, half before).
    cost: f64,
}

impl CpuBudget {
    pub fn new(pct: u32) -> CpuBudget {
        CpuBudget { pct, cost: 0.0 }
    }

    /// Feeds the CPU seconds the last refresh took.
    pub fn spent(&mut self, cpu_s: f64) {
        self.cost = if self.cost == 0.0 {
            cpu_s
        } else {
            (self.cost + cpu_s) / 2.0
        };
    }

    /// The interval to wait: the requested one, or longer when a refresh
    /// costs more than the budget allows at it.
    pub fn interval(&self, requested: f64) -> f64 {
        if self.pct == 0 {
            return requested;
        }
        requested.max(self.cost * 100.0 / self.pct as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_stretches_with_the_cost_and_shrinks_back() {
        let mut b = CpuBudget::new(25);
        assert_eq!(b.interval(0.2), 0.2);
        b.spent(0.4); // 0.4 s of CPU: 25 % allows one refresh per 1.6 s
        assert!((b.interval(0.2) - 1.6).abs() < 1e-9);
        b.spent(0.0);
        b.spent(0.0);
        b.spent(0.0);
        assert!(b.interval(0.2) < 0.25, "cheap again: {}", b.interval(0.2));
        assert_eq!(b.interval(5.0), 5.0, "never shorter than asked");
        let mut off = CpuBudget::new(0);
        off.spent(10.0);
        assert_eq!(off.interval(0.2), 0.2);
    }
}
