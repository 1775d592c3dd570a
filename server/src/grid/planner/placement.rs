//! Placement: the greedy cohorts, the rebound bound, the maximum reduction and the manual
//! stages over the ranked pool, and the plan's curves built from the blocks placed.

use super::eligibility::Pool;
use super::{Exclusions, ManualStage, Plan, PlanInput, PlannedStage, REBOUND_SHARE};

/// One device's block `[start, end)`; `p` is its rank in the pool.
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    p: u32,
    start: u32,
    end: u32,
}

impl Block {
    /// False once the rebound bound has dropped the block (it is then empty).
    pub(super) fn is_placed(&self) -> bool {
        self.end > self.start
    }
}

pub(super) struct Greedy {
    pub(super) blocks: Vec<Block>,
    taken: Vec<bool>,
    net: Vec<f64>,
}

pub(super) enum Shortfall {
    /// Shortfall is what `need` asks beyond the planned reduction.
    Need(Vec<f64>),
    Given(Vec<f64>),
    None,
}

pub(super) struct Ctx<'a> {
    input: &'a PlanInput,
    pool: &'a Pool,
    n: usize,
    len: usize,
    /// `factors` as f64, `[device_type * len + interval]`.
    f: Vec<f64>,
    /// Prefix sums of `f` per type: `[device_type * (len + 1) + interval]`.
    f_sum: Vec<f64>,
}

/// Tolerance for "covered": relative to the figures at stake, so float noise in sums of a
/// million devices does not start another cohort.
fn tolerance(scale: f64) -> f64 {
    1e-9 * (1.0 + scale.abs())
}

impl<'a> Ctx<'a> {
    pub(super) fn new(input: &'a PlanInput, pool: &'a Pool) -> Self {
        let len = input.baseline_kw.len();
        let f: Vec<f64> = input
            .factors
            .iter()
            .flat_map(|row| row.iter().map(|&x| f64::from(x)))
            .collect();
        let mut f_sum = Vec::with_capacity(input.factors.len() * (len + 1));
        for t in 0..input.factors.len() {
            let mut acc = 0.0;
            f_sum.push(0.0);
            for i in 0..len {
                acc += f[t * len + i];
                f_sum.push(acc);
            }
        }
        Ctx {
            input,
            pool,
            n: input.intervals,
            len,
            f,
            f_sum,
        }
    }

    fn factor(&self, device_type: u8, i: usize) -> f64 {
        self.f[usize::from(device_type) * self.len + i]
    }

    /// Sum of a type's factors over `[start, end)`.
    fn factor_sum(&self, device_type: u8, start: usize, end: usize) -> f64 {
        let base = usize::from(device_type) * (self.len + 1);
        self.f_sum[base + end] - self.f_sum[base + start]
    }

    /// The greedy core: sweep the event; where the planned reduction (net of rebound) falls
    /// short of `need`, start a cohort there with the next best unused devices that reduce
    /// load at that interval, each for its longest allowed block. A device whose minimum
    /// block no longer fits before the event end runs its minimum block ending at the event
    /// end instead (it still covers this interval). With `give_up`, returns `None` at the
    /// first interval it cannot cover (used by the binary search).
    pub(super) fn greedy(&self, need: &[f64], give_up: bool) -> Option<Greedy> {
        let pool = self.pool;
        let (n, len) = (self.n, self.len);
        let eps = tolerance(need.iter().fold(0.0, |m: f64, x| m.max(x.abs())));
        let mut net = vec![0.0; len];
        let mut taken = vec![false; pool.len()];
        let mut blocks = Vec::new();
        let mut head = 0;
        // The cohort's nominal kW per (type, start, end), applied after it is formed.
        let stride = n + 1;
        let mut acc = vec![0.0; self.input.factors.len() * stride * stride];
        let mut touched: Vec<usize> = Vec::new();
        for i in 0..n {
            let mut deficit = need[i] - net[i];
            if deficit <= eps {
                continue;
            }
            let mut j = head;
            while deficit > eps && j < pool.len() {
                if !taken[j] {
                    let ty = pool.device_type[j];
                    let r = pool.nominal[j] * self.factor(ty, i);
                    if r > 0.0 {
                        let run = (pool.max_len[j] as usize).min(n - i);
                        let min = pool.min_len[j] as usize;
                        let (s, e) = if run >= min {
                            (i, i + run)
                        } else {
                            (n - min, n)
                        };
                        taken[j] = true;
                        blocks.push(Block {
                            p: j as u32,
                            start: s as u32,
                            end: e as u32,
                        });
                        deficit -= r;
                        net[i] += r;
                        let key = (usize::from(ty) * stride + s) * stride + e;
                        if acc[key] == 0.0 {
                            touched.push(key);
                        }
                        acc[key] += pool.nominal[j];
                    }
                }
                j += 1;
            }
            while head < pool.len() && taken[head] {
                head += 1;
            }
            for key in touched.drain(..) {
                let nominal = std::mem::take(&mut acc[key]);
                let (ty, s, e) = (
                    (key / stride / stride) as u8,
                    key / stride % stride,
                    key % stride,
                );
                for (k, v) in net.iter_mut().enumerate().take(e).skip(s) {
                    if k != i {
                        *v += nominal * self.factor(ty, k);
                    }
                }
                if e < len {
                    net[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
                }
            }
            if give_up && deficit > eps {
                return None;
            }
        }
        Some(Greedy { blocks, taken, net })
    }

    /// The planned reduction per interval (negative: rebound) of `blocks`.
    fn net_of(&self, blocks: &[Block]) -> Vec<f64> {
        let mut net = vec![0.0; self.len];
        for b in blocks.iter().filter(|b| b.is_placed()) {
            let (p, s, e) = (b.p as usize, b.start as usize, b.end as usize);
            let (ty, nominal) = (self.pool.device_type[p], self.pool.nominal[p]);
            for (k, v) in net.iter_mut().enumerate().take(e).skip(s) {
                *v += nominal * self.factor(ty, k);
            }
            if e < self.len {
                net[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
            }
        }
        net
    }

    /// The rebound bound, for the blocks of any objective: walking back from the end of the
    /// horizon, wherever the load would exceed `baseline * (1 + pct/100)`, the blocks that
    /// end there are cut, costliest first — shortened by one interval (their release moves
    /// one interval earlier, where the running cohorts absorb it), or, at their minimum
    /// length, moved one interval earlier, or, when they already start at 0, dropped (left
    /// empty, in place, so callers can still tell which block is which). Each step only
    /// changes intervals up to the one being fixed, so one backward pass leaves every
    /// interval within the bound (with no device, there is no rebound at all). The price is
    /// a shortfall towards the end of the event, which the plan reports.
    pub(super) fn bound_rebound(
        &self,
        mut blocks: Vec<Block>,
        max_increase_pct: f64,
    ) -> Vec<Block> {
        let mut net = self.net_of(&blocks);
        let pool = self.pool;
        let len = self.len;
        let cap: Vec<f64> = self
            .input
            .baseline_kw
            .iter()
            .map(|b| b.max(0.0) * max_increase_pct / 100.0)
            .collect();
        let eps = tolerance(
            self.input
                .baseline_kw
                .iter()
                .fold(0.0, |m: f64, x| m.max(x.abs())),
        );
        let mut by_end: Vec<Vec<usize>> = vec![Vec::new(); len + 1];
        for (b, blk) in blocks.iter().enumerate().filter(|(_, b)| b.is_placed()) {
            by_end[blk.end as usize].push(b);
        }
        for t in (1..len).rev() {
            if net[t] >= -cap[t] - eps {
                continue;
            }
            let mut bucket = std::mem::take(&mut by_end[t]);
            bucket.sort_unstable_by_key(|&b| std::cmp::Reverse(blocks[b].p));
            let mut keep = Vec::new();
            for b in bucket {
                let Block { p, start, end } = blocks[b];
                let (p, s) = (p as usize, start as usize);
                let ty = pool.device_type[p];
                let nominal = pool.nominal[p];
                let release = REBOUND_SHARE * nominal * self.factor(ty, t - 1);
                if net[t] >= -cap[t] - eps || release <= 0.0 {
                    keep.push(b);
                    continue;
                }
                net[t] += release;
                if (end - start) > pool.min_len[p] {
                    net[t - 1] -= nominal * self.factor(ty, t - 1);
                    blocks[b].end -= 1;
                } else if s > 0 {
                    net[s - 1] += nominal * self.factor(ty, s - 1);
                    net[t - 1] -= nominal * self.factor(ty, t - 1);
                    blocks[b].start -= 1;
                    blocks[b].end -= 1;
                } else {
                    for (k, v) in net.iter_mut().enumerate().take(t).skip(s) {
                        *v -= nominal * self.factor(ty, k);
                    }
                    blocks[b].end = blocks[b].start;
                    continue;
                }
                // The block now ends at t - 1 and is at least one interval long.
                net[t - 1] -= REBOUND_SHARE * nominal * self.factor(ty, t - 2);
                by_end[t - 1].push(b);
            }
            by_end[t] = keep;
        }
        blocks
    }

    /// Binary search for the highest level every event interval can get from the greedy,
    /// plan that level, then place every device still unused: its longest block where its
    /// factors give most, among equals where the planned reduction is lowest (so the extra
    /// spreads out), then earliest.
    pub(super) fn maximum_reduction(&self) -> Vec<Block> {
        let pool = self.pool;
        let (n, len) = (self.n, self.len);
        let types = self.input.factors.len();
        let mut nominal_by_type = vec![0.0; types];
        for p in 0..pool.len() {
            nominal_by_type[usize::from(pool.device_type[p])] += pool.nominal[p];
        }
        let mut hi = (0..n)
            .map(|i| {
                (0..types)
                    .map(|t| nominal_by_type[t] * self.factor(t as u8, i))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        let mut lo = 0.0;
        while hi - lo > 1e-4 * hi.max(1.0) {
            let mid = (lo + hi) / 2.0;
            if self.greedy(&vec![mid; n], true).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let Some(Greedy {
            mut blocks,
            taken,
            mut net,
        }) = self.greedy(&vec![lo; n], false)
        else {
            return Vec::new();
        };
        let mut prefix = vec![0.0; n + 1];
        for p in (0..pool.len()).filter(|&p| !taken[p]) {
            let ty = pool.device_type[p];
            let run = pool.max_len[p] as usize;
            let mut best: Option<(f64, f64, usize)> = None;
            for i in 0..n {
                prefix[i + 1] = prefix[i] + net[i];
            }
            for s in 0..=(n - run) {
                let gives = self.factor_sum(ty, s, s + run);
                let planned = prefix[s + run] - prefix[s];
                let better = match best {
                    None => true,
                    Some((g, pl, _)) => {
                        let tol = tolerance(g);
                        gives > g + tol || (gives >= g - tol && planned < pl)
                    }
                };
                if better {
                    best = Some((gives, planned, s));
                }
            }
            let Some((_, _, s)) = best else { continue };
            let e = s + run;
            let nominal = pool.nominal[p];
            for (k, v) in net.iter_mut().enumerate().take(e).skip(s) {
                *v += nominal * self.factor(ty, k);
            }
            if e < len {
                net[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
            }
            blocks.push(Block {
                p: p as u32,
                start: s as u32,
                end: e as u32,
            });
        }
        blocks
    }

    /// Fills each stage, in the order given, with unused devices in rank order whose block
    /// limits allow the stage's length, until the stage's average reduction reaches its
    /// target (devices that give nothing in the stage are then passed over), or with all of
    /// them when there is no target. Returns the blocks and, for each, its stage's index.
    pub(super) fn manual(&self, stages: &[ManualStage]) -> (Vec<Block>, Vec<usize>) {
        let pool = self.pool;
        let mut taken = vec![false; pool.len()];
        let mut blocks = Vec::new();
        let mut stage_of = Vec::new();
        for (k, stage) in stages.iter().enumerate() {
            let run = (stage.end - stage.start) as u32;
            let goal = stage.target_kw.map(|t| t * f64::from(run));
            let eps = tolerance(goal.unwrap_or(0.0));
            let mut total = 0.0;
            for (p, taken) in taken.iter_mut().enumerate() {
                if goal.is_some_and(|g| total >= g - eps) {
                    break;
                }
                if *taken || pool.min_len[p] > run || pool.max_len[p] < run {
                    continue;
                }
                let gives =
                    pool.nominal[p] * self.factor_sum(pool.device_type[p], stage.start, stage.end);
                if goal.is_some() && gives <= 0.0 {
                    continue;
                }
                *taken = true;
                total += gives;
                blocks.push(Block {
                    p: p as u32,
                    start: stage.start as u32,
                    end: stage.end as u32,
                });
                stage_of.push(k);
            }
        }
        (blocks, stage_of)
    }

    /// A manual stage that misses its target (with its devices' blocks as finally placed)
    /// reports the missing average kW as shortfall on each of its intervals.
    pub(super) fn manual_shortfall(
        &self,
        stages: &[ManualStage],
        blocks: &[Block],
        stage_of: &[usize],
    ) -> Vec<f64> {
        let pool = self.pool;
        let mut gives = vec![0.0; stages.len()];
        for (b, &k) in blocks.iter().zip(stage_of) {
            let p = b.p as usize;
            gives[k] += pool.nominal[p]
                * self.factor_sum(pool.device_type[p], b.start as usize, b.end as usize);
        }
        let mut shortfall = vec![0.0; self.n];
        for (stage, given) in stages.iter().zip(gives) {
            if let Some(target) = stage.target_kw {
                let run = (stage.end - stage.start) as f64;
                let missing = (target - given / run).max(0.0);
                for v in &mut shortfall[stage.start..stage.end] {
                    *v += missing;
                }
            }
        }
        shortfall
    }

    /// Groups the blocks into stages and computes the curves from them.
    pub(super) fn finish(
        &self,
        mut blocks: Vec<Block>,
        shortfall: Shortfall,
        exclusions: Exclusions,
    ) -> Plan {
        let pool = self.pool;
        let types = self.input.factors.len();
        let len = self.len;
        // Stable: devices within a stage stay in the order they were chosen.
        blocks.sort_by_key(|b| (b.start, b.end));
        let mut stages = Vec::new();
        let mut reduction = vec![0.0; len];
        let mut nominal_by_type = vec![0.0; types];
        for group in blocks.chunk_by(|a, b| (a.start, a.end) == (b.start, b.end)) {
            let (s, e) = (group[0].start as usize, group[0].end as usize);
            nominal_by_type.iter_mut().for_each(|v| *v = 0.0);
            let devices: Vec<u32> = group
                .iter()
                .map(|b| {
                    let p = b.p as usize;
                    nominal_by_type[usize::from(pool.device_type[p])] += pool.nominal[p];
                    pool.candidate[p]
                })
                .collect();
            let mut total = 0.0;
            for (t, &nominal) in nominal_by_type.iter().enumerate() {
                if nominal == 0.0 {
                    continue;
                }
                let ty = t as u8;
                for (k, v) in reduction.iter_mut().enumerate().take(e).skip(s) {
                    let r = nominal * self.factor(ty, k);
                    *v += r;
                    total += r;
                }
                if e < len {
                    reduction[e] -= REBOUND_SHARE * nominal * self.factor(ty, e - 1);
                }
            }
            stages.push(PlannedStage {
                start: s,
                end: e,
                devices,
                expected_kw: total / (e - s) as f64,
            });
        }
        let after_kw = self
            .input
            .baseline_kw
            .iter()
            .zip(&reduction)
            .map(|(b, r)| b - r)
            .collect();
        let shortfall_kw = match shortfall {
            Shortfall::Need(need) => need
                .iter()
                .zip(&reduction)
                .map(|(need, r)| (need - r).max(0.0))
                .collect(),
            Shortfall::Given(v) => v,
            Shortfall::None => vec![0.0; self.n],
        };
        Plan {
            stages,
            reduction_kw: reduction,
            after_kw,
            exclusions,
            eligible: pool.len(),
            assigned: blocks.len(),
            shortfall_kw,
        }
    }
}
