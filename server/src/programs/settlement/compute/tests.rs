//! The settlement computation's rules, and properties over random data that hold for every
//! event: credits never negative and in whole cents, unmeasured results earn nothing, no
//! reduction earns no credit, results independent of the order of their inputs, totals the
//! sums of the parts.

use super::*;
use crate::programs::baseline::ADJUSTMENT_HOURS;
use proptest::collection::vec;
use proptest::prelude::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn windows_snap_to_the_quarter_hour_grid() {
    assert_eq!(
        floor_quarter(t("2026-07-15T16:07:00Z")),
        t("2026-07-15T16:00:00Z")
    );
    assert_eq!(
        ceil_quarter(t("2026-07-15T16:07:00Z")),
        t("2026-07-15T16:15:00Z")
    );
    assert_eq!(
        ceil_quarter(t("2026-07-15T16:15:00Z")),
        t("2026-07-15T16:15:00Z")
    );
}

/// Devices of one stage (16:00–18:00 local): (enrollment, service point, kW, outcome).
fn shared(devices: &[(i64, &str, f64, Option<&str>)]) -> Vec<Part> {
    let stage = StagePart {
        external_id: "ST-1".into(),
        program_code: "P".into(),
        status: "F1CO".into(),
        starts_at: t0(),
        ends_at: t0() + Duration::hours(2),
    };
    let devices = devices
        .iter()
        .map(|&(enrollment, sp, kw, outcome)| Participant {
            external_id: "ST-1".into(),
            enrollment_id: enrollment,
            customer_id: enrollment * 10,
            service_point_id: sp.into(),
            outcome: outcome.map(str::to_string),
            opted_out: false,
            expected_kw: kw,
        })
        .collect();
    let mut parts = parts(&[&stage], devices);
    share_meters(&mut parts);
    parts
}

fn shares(parts: &[Part]) -> Vec<(i64, f64, f64)> {
    parts
        .iter()
        .map(|p| (p.enrollment_id, p.share, p.weight))
        .collect()
}

#[test]
fn a_meter_shared_with_a_non_responder_goes_wholly_to_the_enrollment_that_took_part() {
    let parts = shared(&[
        (1, "SP-A", 2.0, Some("D1SP")),
        (2, "SP-A", 3.0, Some("D1ND")),
        (3, "SP-B", 1.0, Some("D1ER")),
        (3, "SP-B", 1.0, Some("D1SP")),
    ]);
    // Enrollment 3 took part with one of its two devices: alone at its meter, it keeps it.
    assert_eq!(
        shares(&parts),
        vec![(1, 1.0, 1.0), (2, 0.0, 0.0), (3, 1.0, 1.0)]
    );
    assert_eq!(parts[2].kw, 1.0, "only the kW of the device that took part");
}

#[test]
fn enrollments_that_took_part_at_one_meter_split_it_by_dispatched_kw() {
    let parts = shared(&[
        (1, "SP-A", 1.0, Some("D1SP")),
        (2, "SP-A", 3.0, None),
        (3, "SP-A", 2.0, Some("D1CN")),
    ]);
    assert_eq!(
        shares(&parts),
        vec![(1, 0.25, 0.25), (2, 0.75, 0.75), (3, 0.0, 0.0)]
    );
}

#[test]
fn a_meter_where_nobody_took_part_credits_nobody_and_counts_once_in_the_sums() {
    let parts = shared(&[
        (1, "SP-A", 1.0, Some("D1ND")),
        (2, "SP-A", 3.0, Some("D1ER")),
        (3, "SP-B", 2.0, Some("D1ND")),
    ]);
    assert_eq!(
        shares(&parts),
        vec![(1, 0.0, 0.5), (2, 0.0, 0.5), (3, 0.0, 1.0)]
    );
}

#[test]
fn enrollments_at_one_meter_in_windows_that_do_not_overlap_do_not_share_it() {
    let mut parts = shared(&[
        (1, "SP-A", 1.0, Some("D1SP")),
        (2, "SP-A", 3.0, Some("D1SP")),
    ]);
    parts[1].start = parts[0].end;
    parts[1].end = parts[0].end + Duration::hours(1);
    share_meters(&mut parts);
    assert_eq!(shares(&parts), vec![(1, 1.0, 1.0), (2, 1.0, 1.0)]);
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// Days of history generated before the event: about fourteen weekdays, so the bulk read's
/// ten are sometimes there and sometimes not.
const LOOKBACK: i64 = 20;
const ADJ_N: usize = (ADJUSTMENT_HOURS * 4) as usize;

/// 16:00 local on a Wednesday.
fn t0() -> DateTime<Utc> {
    t("2026-07-15T22:00:00Z")
}

fn part(enrollment_id: i64, start: DateTime<Utc>, n: usize, opted_out: bool) -> Part {
    Part {
        enrollment_id,
        customer_id: enrollment_id * 10,
        service_point_id: format!("SP-{enrollment_id}"),
        start,
        end: start + Duration::minutes(15 * n as i64),
        devices: 1,
        opted_out,
        program_code: "P".into(),
        kw: if opted_out { 0.0 } else { 1.0 },
        took_part: !opted_out,
        share: 1.0,
        weight: 1.0,
    }
}

fn no_data() -> Data {
    Data {
        history: Vec::new(),
        actual_event: Vec::new(),
        actual_adjustment: Vec::new(),
    }
}

/// A quarter hour's kWh at watt-hour resolution.
fn kwh() -> impl Strategy<Value = f64> {
    (0u32..4000).prop_map(|wh| f64::from(wh) / 1000.0)
}

fn arb_terms() -> impl Strategy<Value = ProgramTerms> {
    (prop_oneof![Just("consumption"), Just("demand")], 0u32..200).prop_map(|(method, cents)| {
        let d = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        ProgramTerms {
            id: 1,
            code: "P".into(),
            settlement_method: method.into(),
            settlement_timing: "per_event".into(),
            baseline_method: "10in10".into(),
            credit_rate: f64::from(cents) / 100.0,
            season_start: d,
            season_end: d + Duration::days(120),
        }
    })
}

fn arb_method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::TenInTen), Just(Method::HighFiveOfTen)]
}

/// A service point's data around an event of `n` quarter hours from `start`: past days that
/// may be missing or incomplete, and an event day that may lack a reading.
fn arb_data(start: DateTime<Utc>, n: usize) -> impl Strategy<Value = Data> {
    let day = (
        proptest::bool::weighted(0.8),
        proptest::bool::weighted(0.9),
        vec(kwh(), n),
        vec(kwh(), ADJ_N),
    );
    let with_gap = |mut v: Vec<f64>| {
        v[0] = f64::NAN;
        v
    };
    (
        vec(day, LOOKBACK as usize),
        prop_oneof![19 => vec(kwh(), n), 1 => vec(kwh(), n).prop_map(with_gap)],
        prop_oneof![9 => vec(kwh(), ADJ_N), 1 => vec(kwh(), ADJ_N - 1)],
    )
        .prop_map(move |(days, actual_event, actual_adjustment)| Data {
            history: days
                .into_iter()
                .enumerate()
                .filter(|(_, d)| d.0)
                .map(|(k, (_, complete, mut event, adjustment))| {
                    if !complete {
                        event[0] = f64::NAN;
                    }
                    DayProfile {
                        date: Calendar::default().local_date(start - Duration::days(k as i64 + 1)),
                        event,
                        adjustment,
                    }
                })
                .collect(),
            actual_event,
            actual_adjustment,
        })
}

/// Some of the days before `start`: the enrollment's other event days.
fn arb_excluded(start: DateTime<Utc>) -> impl Strategy<Value = Vec<NaiveDate>> {
    vec(proptest::bool::weighted(0.15), LOOKBACK as usize).prop_map(move |picked| {
        (1..=LOOKBACK)
            .zip(picked)
            .filter(|(_, p)| *p)
            .map(|(k, _)| Calendar::default().local_date(start - Duration::days(k)))
            .collect()
    })
}

/// Prices set for some of `n` quarter hours from `from`.
fn arb_prices(from: DateTime<Utc>, n: usize) -> impl Strategy<Value = HashMap<DateTime<Utc>, f64>> {
    vec(proptest::option::weighted(0.3, 0u32..100), n).prop_map(move |cents| {
        cents
            .into_iter()
            .enumerate()
            .filter_map(|(q, c)| {
                c.map(|c| {
                    (
                        from + Duration::minutes(15 * q as i64),
                        f64::from(c) / 100.0,
                    )
                })
            })
            .collect()
    })
}

/// One enrollment's part with everything it is computed from.
#[derive(Debug, Clone)]
struct One {
    terms: ProgramTerms,
    method: Method,
    part: Part,
    data: Data,
    excluded: Vec<NaiveDate>,
    prices: HashMap<DateTime<Utc>, f64>,
}

fn arb_one() -> impl Strategy<Value = One> {
    (0i64..8, 1usize..=8).prop_flat_map(|(offset, n)| {
        let start = t0() + Duration::minutes(15 * offset);
        (
            arb_terms(),
            arb_method(),
            arb_data(start, n),
            arb_excluded(start),
            arb_prices(start, n),
        )
            .prop_map(move |(terms, method, data, excluded, prices)| One {
                terms,
                method,
                part: part(1, start, n, false),
                data,
                excluded,
                prices,
            })
    })
}

/// A program part of an event: its enrollments' parts and what the bulk read found.
#[derive(Debug, Clone)]
struct Event {
    terms: ProgramTerms,
    method: Method,
    parts: Vec<Part>,
    data: EventData,
}

impl Event {
    /// Every part's result, those the bulk read leaves computed from their own read (here the
    /// same data, or none).
    fn results(&self, parts: &[Part]) -> Vec<Computed> {
        let none = no_data();
        from_bulk(
            Calendar::default(),
            &self.terms,
            self.method,
            parts,
            &self.data,
        )
        .into_iter()
        .zip(parts)
        .map(|(first, p)| {
            first.unwrap_or_else(|| {
                let own = self.data.bulk.get(&p.enrollment_id).unwrap_or(&none);
                let excluded = self.data.excluded(&p.service_point_id);
                from_own_read(
                    Calendar::default(),
                    &self.terms,
                    self.method,
                    p,
                    own,
                    excluded,
                    &self.data.prices,
                )
            })
        })
        .collect()
    }
}

type Member = (Part, Option<Data>, bool, Vec<NaiveDate>);

fn arb_member() -> impl Strategy<Value = Member> {
    (0i64..8, 1usize..=8).prop_flat_map(|(offset, n)| {
        let start = t0() + Duration::minutes(15 * offset);
        (
            proptest::option::weighted(0.85, arb_data(start, n)),
            proptest::bool::weighted(0.9),
            proptest::bool::weighted(0.15),
            arb_excluded(start),
        )
            .prop_map(move |(data, seen, opted_out, excluded)| {
                (part(0, start, n, opted_out), data, seen, excluded)
            })
    })
}

/// An event, and the same parts in another order.
fn arb_event() -> impl Strategy<Value = (Event, Vec<Part>)> {
    (
        arb_terms(),
        arb_method(),
        vec(arb_member(), 1..6),
        arb_prices(t0(), 16),
    )
        .prop_map(|(terms, method, members, prices)| {
            let mut data = EventData {
                prices,
                ..EventData::default()
            };
            let mut parts = Vec::new();
            for (i, (p, bulk, seen, excluded)) in members.into_iter().enumerate() {
                let p = part(i as i64 + 1, p.start, p.end_n(), p.opted_out);
                if seen || bulk.is_some() {
                    data.seen.insert(p.service_point_id.clone());
                }
                if let Some(d) = bulk {
                    data.bulk.insert(p.enrollment_id, d);
                }
                data.excluded.insert(p.service_point_id.clone(), excluded);
                parts.push(p);
            }
            Event {
                terms,
                method,
                parts,
                data,
            }
        })
        .prop_flat_map(|e| {
            let shuffled = Just(e.parts.clone()).prop_shuffle();
            (Just(e), shuffled)
        })
}

impl Part {
    fn end_n(&self) -> usize {
        ((self.end - self.start).num_minutes() / 15) as usize
    }
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

/// Stages of an event (not on the quarter-hour grid) and devices reserved in them.
/// The devices come twice, the second time in another order.
fn arb_reservations() -> impl Strategy<Value = (Vec<StagePart>, Vec<Participant>, Vec<Participant>)>
{
    let stage = (0i64..240, 1i64..240);
    let device = (
        0usize..5,
        1i64..6,
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("D1CN"), Just("D1CO")]),
    );
    (vec(stage, 1..4), vec(device, 0..20))
        .prop_map(|(stages, devices)| {
            let stages: Vec<StagePart> = stages
                .into_iter()
                .enumerate()
                .map(|(i, (from, minutes))| StagePart {
                    external_id: format!("ST-{i}"),
                    program_code: "P".into(),
                    status: "F1CO".into(),
                    starts_at: t0() + Duration::minutes(from),
                    ends_at: t0() + Duration::minutes(from + minutes),
                })
                .collect();
            let devices: Vec<Participant> = devices
                .into_iter()
                .map(|(stage, enrollment, opted_out, outcome)| Participant {
                    // Index 4 and beyond: a stage of another program part.
                    external_id: format!("ST-{stage}"),
                    enrollment_id: enrollment,
                    customer_id: enrollment * 10,
                    service_point_id: format!("SP-{enrollment}"),
                    outcome: outcome.map(str::to_string),
                    opted_out,
                    expected_kw: enrollment as f64,
                })
                .collect();
            (stages, devices)
        })
        .prop_flat_map(|(stages, devices)| {
            let shuffled = Just(devices.clone()).prop_shuffle();
            (Just(stages), Just(devices), shuffled)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn credits_are_never_negative_and_in_whole_cents(one in arb_one()) {
        let r = from_own_read(Calendar::default(), &one.terms, one.method, &one.part, &one.data, Excluded { event_days: &one.excluded, holidays: &[] }, &one.prices);
        prop_assert!(r.credit >= 0.0, "credit {}", r.credit);
        prop_assert_eq!(r.credit, round_cents(r.credit));
    }

    #[test]
    fn an_unmeasured_result_earns_nothing_and_says_why(one in arb_one()) {
        let r = from_own_read(Calendar::default(), &one.terms, one.method, &one.part, &one.data, Excluded { event_days: &one.excluded, holidays: &[] }, &one.prices);
        let n = one.part.end_n();
        if r.status == "settled" {
            prop_assert!(r.reason.is_none());
            let (b, a) = r.series.clone().expect("a settled result has its series");
            prop_assert_eq!((b.len(), a.len()), (n, n));
            prop_assert!((crate::programs::baseline::MIN_DAYS as i32..=10).contains(&r.baseline_days));
        } else {
            prop_assert!(r.status == "no_data" || r.status == "no_baseline", "{}", r.status);
            prop_assert!(r.reason.is_some());
            prop_assert_eq!(r.credit, 0.0);
            prop_assert_eq!(r.kwh_avoided, 0.0);
            prop_assert!(r.series.is_none());
        }
    }

    #[test]
    fn no_reduction_earns_no_credit(one in arb_one(), above in vec(0u32..2000, 8)) {
        let mut one = one;
        let input = baseline::EventInput {
            date: Calendar::default().local_date(one.part.start),
            event_intervals: one.part.end_n(),
            adjustment_intervals: one.data.actual_adjustment.len(),
            actual_adjustment: &one.data.actual_adjustment,
            excluded: &one.excluded,
            holidays: &[],
        };
        let b = baseline::baseline(one.method, &input, &one.data.history);
        prop_assume!(b.is_ok());
        // The customer used the baseline or more in every quarter hour.
        one.data.actual_event = b
            .unwrap()
            .kwh
            .iter()
            .zip(above)
            .map(|(b, wh)| b + f64::from(wh) / 1000.0)
            .collect();
        let r = from_own_read(Calendar::default(), &one.terms, one.method, &one.part, &one.data, Excluded { event_days: &one.excluded, holidays: &[] }, &one.prices);
        prop_assert_eq!(r.status, "settled");
        prop_assert_eq!(r.credit, 0.0);
        prop_assert!(r.kwh_avoided <= 1e-9);
        prop_assert!(r.kw_drop[0] <= 1e-9);
    }

    #[test]
    fn the_shares_of_a_meter_add_up_to_its_savings(one in arb_one(), tenths in 0u32..=10) {
        let measured = |share: f64| {
            let part = Part { share, ..one.part.clone() };
            let excluded = Excluded { event_days: &one.excluded, holidays: &[] };
            from_own_read(Calendar::default(), &one.terms, one.method, &part, &one.data, excluded, &one.prices)
        };
        let s = f64::from(tenths) / 10.0;
        let (whole, a, b) = (measured(1.0), measured(s), measured(1.0 - s));
        prop_assert!(close(a.kwh_avoided + b.kwh_avoided, whole.kwh_avoided, 1e-9));
        prop_assert!(close(a.kw_drop[2] + b.kw_drop[2], whole.kw_drop[2], 1e-9));
        // Each share is rounded to the cent on its own.
        prop_assert!(close(a.credit + b.credit, whole.credit, 0.010_001));
        // The meter's own figures are the same for every share.
        prop_assert_eq!((a.baseline_kwh, a.actual_kwh), (whole.baseline_kwh, whole.actual_kwh));
    }

    #[test]
    fn without_interval_prices_the_credit_is_the_reduction_at_the_program_rate(one in arb_one()) {
        let r = from_own_read(Calendar::default(), &one.terms, one.method, &one.part, &one.data, Excluded { event_days: &one.excluded, holidays: &[] }, &HashMap::new());
        prop_assume!(r.status == "settled");
        let rate = one.terms.credit_rate;
        prop_assert!(close(r.rate, rate, 1e-9), "rate {} for {}", r.rate, rate);
        let n = one.part.end_n() as f64;
        // kW of a quarter hour is four times its kWh.
        prop_assert!(close(r.kw_drop[2], r.kwh_avoided * 4.0 / n, 1e-9));
        let expected = if one.terms.settlement_method == "consumption" {
            r.kwh_avoided * rate
        } else {
            r.kw_drop[2] * rate
        };
        // Rounded to the cent, and summing per interval may round the other way.
        prop_assert!(close(r.credit, expected.max(0.0), 0.005 + 1e-6), "credit {} for {}", r.credit, expected);
    }

    #[test]
    fn results_do_not_depend_on_the_order_of_the_enrollments((event, shuffled) in arb_event()) {
        let mut a = event.results(&event.parts);
        let mut b = event.results(&shuffled);
        let (ta, tb) = (totals(&a), totals(&b));
        prop_assert_eq!((ta.enrollments, ta.settled), (tb.enrollments, tb.settled));
        prop_assert!(close(ta.credit, tb.credit, 1e-6));
        prop_assert!(close(ta.kwh_avoided, tb.kwh_avoided, 1e-6));
        let (sa, sb) = (interval_sums(&a), interval_sums(&b));
        prop_assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
        for (x, y) in sa.values().zip(sb.values()) {
            prop_assert_eq!(x.enrollments, y.enrollments);
            prop_assert!(close(x.baseline_kwh, y.baseline_kwh, 1e-6));
            prop_assert!(close(x.actual_kwh, y.actual_kwh, 1e-6));
        }
        a.sort_by_key(|c| c.part.enrollment_id);
        b.sort_by_key(|c| c.part.enrollment_id);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn totals_are_the_sums_of_the_parts((event, _) in arb_event()) {
        let results = event.results(&event.parts);
        let t = totals(&results);
        prop_assert_eq!(t.enrollments, event.parts.len());
        let settled: Vec<&Computed> = results.iter().filter(|c| c.status == "settled").collect();
        prop_assert_eq!(t.settled, settled.len());
        prop_assert!(close(t.credit, results.iter().map(|c| c.credit).sum(), 1e-6));
        prop_assert!(close(t.kwh_avoided, settled.iter().map(|c| c.kwh_avoided).sum(), 1e-6));
        prop_assert!(t.credit >= 0.0);

        let sums = interval_sums(&results);
        let over = |f: fn(&IntervalSum) -> f64| sums.values().map(f).sum::<f64>();
        prop_assert!(close(over(|s| s.baseline_kwh), settled.iter().map(|c| c.baseline_kwh).sum(), 1e-6));
        prop_assert!(close(over(|s| s.actual_kwh), settled.iter().map(|c| c.actual_kwh).sum(), 1e-6));
        let quarters: usize = settled.iter().map(|c| c.part.end_n()).sum();
        prop_assert_eq!(sums.values().map(|s| s.enrollments as usize).sum::<usize>(), quarters);
        for (at, s) in &sums {
            let covering = settled.iter().filter(|c| c.part.start <= *at && *at < c.part.end).count();
            prop_assert_eq!(s.enrollments as usize, covering);
        }
    }

    #[test]
    fn the_bulk_read_settles_only_what_it_can_settle_whole((event, _) in arb_event()) {
        let first = from_bulk(Calendar::default(), &event.terms, event.method, &event.parts, &event.data);
        prop_assert_eq!(first.len(), event.parts.len());
        for (p, r) in event.parts.iter().zip(first) {
            let Some(r) = r else {
                // Left to be read alone: it has readings on the event day and did not opt out.
                prop_assert!(!p.opted_out && event.data.seen.contains(&p.service_point_id));
                continue;
            };
            prop_assert_eq!(&r.part, p);
            if p.opted_out {
                prop_assert_eq!(r.status, "opted_out");
                prop_assert_eq!(r.credit, 0.0);
            } else if r.status == "settled" {
                // Settled from ten eligible days: the same result as its own read of them.
                prop_assert_eq!(r.eligible, baseline::DAYS);
                let d = &event.data.bulk[&p.enrollment_id];
                let own = from_own_read(Calendar::default(), &event.terms, event.method, p, d, event.data.excluded(&p.service_point_id), &event.data.prices);
                prop_assert_eq!(&r, &own);
            } else {
                prop_assert_eq!(r.status, "no_data");
                prop_assert!(!event.data.seen.contains(&p.service_point_id));
            }
        }
    }

    #[test]
    fn parts_do_not_depend_on_the_order_of_the_reserved_devices(
        (stages, devices, shuffled) in arb_reservations(),
    ) {
        let refs: Vec<&StagePart> = stages.iter().collect();
        let parts_a = parts(&refs, devices.clone());
        prop_assert_eq!(&parts_a, &parts(&refs, shuffled));

        let window = |d: &Participant| stages.iter().find(|s| s.external_id == d.external_id);
        let known: Vec<&Participant> = devices.iter().filter(|d| window(d).is_some()).collect();
        prop_assert_eq!(parts_a.iter().map(|p| p.devices as usize).sum::<usize>(), known.len());
        for p in &parts_a {
            let mine: Vec<&&Participant> = known.iter().filter(|d| d.enrollment_id == p.enrollment_id).collect();
            prop_assert!(!mine.is_empty());
            let start = mine.iter().map(|d| floor_quarter(window(d).unwrap().starts_at)).min().unwrap();
            let end = mine.iter().map(|d| ceil_quarter(window(d).unwrap().ends_at)).max().unwrap();
            prop_assert_eq!((p.start, p.end), (start, end));
            prop_assert!(p.start.minute() % 15 == 0 && p.end.minute() % 15 == 0);
            let released = mine.iter().all(|d| d.opted_out || d.outcome.as_deref() == Some("D1CN"));
            prop_assert_eq!(p.opted_out, released);
            let took_part: Vec<&&&Participant> = mine
                .iter()
                .filter(|d| !d.opted_out && !matches!(d.outcome.as_deref(), Some("D1CN" | "D1ND" | "D1ER")))
                .collect();
            prop_assert_eq!(p.took_part, !took_part.is_empty());
            prop_assert_eq!(p.kw, took_part.iter().map(|d| d.expected_kw).sum::<f64>());
        }
    }
}
