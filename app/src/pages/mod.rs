//! The console's pages, one module per noun.

mod aggregator;
mod audit;
mod confirm;
mod device;
mod enrollment;
mod event;
mod forecast;
mod home;
mod meter;
mod monitor;
mod network;
mod program;
mod report;
mod settlement;
mod strategy;
mod user;

pub use aggregator::AggregatorPage;
pub use audit::AuditPage;
pub use confirm::ConfirmPage;
pub use device::{DeviceDetailPage, DeviceListPage};
pub use enrollment::{EnrollmentDetailPage, EnrollmentListPage};
pub use event::{EventDetailPage, EventListPage, EventLiveFragment};
pub use forecast::{ForecastPage, ReductionPage};
pub use home::{HomePage, LoginPage, NotFoundPage, RootPage};
pub use meter::MeterDataPage;
pub use monitor::{MessageDetailPage, MonitorPage};
pub use network::NetworkPage;
pub use program::{ProgramDetailPage, ProgramListPage};
pub use report::{EventReportPage, ReportIndexPage, SeasonReportPage};
pub use settlement::{SeasonPage, SettlementEventPage, SettlementPage};
pub use strategy::{StrategyDetailPage, StrategyListPage};
pub use user::{HolidayPage, UserAdminPage, ValueMapPage};

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::components::ErrorPanel;
use crate::error::AppError;

/// Waits for `res` and renders it, or the error with its HTTP status.
pub(crate) fn show<T, V, F>(res: Resource<Result<T, AppError>>, render: F) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let render = render.clone();
                Suspend::new(async move {
                    match res.await {
                        Ok(v) => render(v).into_any(),
                        Err(e) => view! { <ErrorPanel err=e/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Parses the URL query with `parse`; a bad parameter becomes a 400 naming it.
pub(crate) fn query_with<Q>(
    parse: impl Fn(Vec<(String, String)>) -> Result<Q, AppError> + Send + Sync + 'static,
) -> impl Fn() -> Result<Q, AppError> + Send + Sync + 'static {
    let query = use_query_map();
    move || {
        let map = query.get();
        let pairs: Vec<(String, String)> = (&map)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(pairs)
    }
}

pub(crate) fn pairs(v: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// The `:id` of the route, or a 404 for anything that is not a positive number.
pub(crate) fn route_id(what: &'static str) -> impl Fn() -> Result<i64, AppError> + Send + Sync {
    let params = use_params_map();
    move || {
        params
            .get()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| AppError::NotFound(what.to_string()))
    }
}

/// A URL query as its pairs, in order.
pub(crate) type QueryPairs = Vec<(String, String)>;

/// Most pages the console remembers for "Previous" in a keyset list.
const MAX_TRAIL: usize = 200;

/// Takes the console's own paging parameter off a list's query: `back`, the cursors of the
/// pages before this one (page 1 has none), so "Previous" and "Page n of m" work with
/// keyset pages. The rest is the list's own query (shared with the REST API).
pub(crate) fn split_trail(p: Vec<(String, String)>) -> Result<(QueryPairs, Vec<i64>), AppError> {
    let mut rest = Vec::with_capacity(p.len());
    let mut back = Vec::new();
    for (k, v) in p {
        if k != "back" {
            rest.push((k, v));
            continue;
        }
        for part in v.split(',').filter(|s| !s.is_empty()) {
            let cursor = part.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "query parameter `back`: expected page cursors (numbers), got `{part}`"
                ))
            })?;
            back.push(cursor);
        }
    }
    if back.len() > MAX_TRAIL {
        return Err(AppError::BadRequest(format!(
            "query parameter `back`: at most {MAX_TRAIL} pages"
        )));
    }
    Ok((rest, back))
}

fn with_params(base: &str, extra: &[(&str, String)]) -> String {
    let mut out = base.to_string();
    for (k, v) in extra {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Where a keyset list is and where it can go: First, Previous, "Page n of m", Next.
#[derive(Debug, Clone)]
pub(crate) struct PagerState {
    /// The list's path with its filters, no cursor (`/enrollments?program=2`).
    pub base: String,
    /// The name of the list's cursor parameter (`after`, or `before` for newest-first lists).
    pub cursor: &'static str,
    pub after: Option<i64>,
    pub back: Vec<i64>,
    pub next_after: Option<i64>,
    pub total: i64,
    pub limit: u32,
}

impl PagerState {
    pub fn page(&self) -> usize {
        match self.after {
            None => 1,
            Some(_) => self.back.len() + 2,
        }
    }

    pub fn pages(&self) -> i64 {
        let limit = i64::from(self.limit.max(1));
        ((self.total + limit - 1) / limit).max(1)
    }

    fn trail(list: &[i64]) -> String {
        list.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn previous_href(&self) -> Option<String> {
        self.after?;
        Some(match self.back.split_last() {
            None => self.base.clone(),
            Some((last, [])) => with_params(&self.base, &[(self.cursor, last.to_string())]),
            Some((last, rest)) => with_params(
                &self.base,
                &[(self.cursor, last.to_string()), ("back", Self::trail(rest))],
            ),
        })
    }

    pub fn next_href(&self) -> Option<String> {
        let next = self.next_after?;
        let mut back = self.back.clone();
        if let Some(a) = self.after {
            back.push(a);
        }
        let mut extra = vec![(self.cursor, next.to_string())];
        if !back.is_empty() && back.len() < MAX_TRAIL {
            extra.push(("back", Self::trail(&back)));
        }
        Some(with_params(&self.base, &extra))
    }
}

/// Rows on a page of a list the server returns whole (events, programs, aggregators, users).
pub(crate) const WHOLE_LIST_ROWS: u32 = 25;

/// A list the server returns whole, paged in the console with the keyset lists' pager: the
/// cursor (`after`) is the number of rows before the page, so it alone says where the page is
/// and the pager's `back` trail is not needed to count pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WholeList {
    /// The list's path with its filters (`/events?status=Completed`).
    pub base: String,
    pub after: Option<i64>,
}

impl WholeList {
    /// Where the page starts, from the query's `after`; anything but a row count is a 400
    /// naming it.
    pub fn new(base: String, after: Option<&str>) -> Result<Self, AppError> {
        let after = match after.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "query parameter `after`: expected a number of rows, got `{v}`"
                ))
            })?),
        };
        Ok(Self {
            base,
            after: after.filter(|n| *n > 0),
        })
    }

    /// This page's rows and its pager; a page past the last row is a 400 naming the count.
    pub fn page<T>(&self, rows: Vec<T>) -> Result<(Vec<T>, PagerState), AppError> {
        let limit = i64::from(WHOLE_LIST_ROWS);
        let total = rows.len() as i64;
        let offset = self.after.unwrap_or(0);
        if offset > 0 && offset >= total {
            return Err(AppError::BadRequest(format!(
                "query parameter `after`: the list has {total} rows"
            )));
        }
        // The pages before this one, as the keyset pager's trail (the first page has none).
        let back = (1..)
            .map(|n| n * limit)
            .take_while(|start| *start < offset)
            .collect();
        let next_after = (offset + limit < total).then_some(offset + limit);
        let shown = rows
            .into_iter()
            .skip(offset as usize)
            .take(WHOLE_LIST_ROWS as usize)
            .collect();
        Ok((
            shown,
            PagerState {
                base: self.base.clone(),
                cursor: "after",
                after: self.after,
                back,
                next_after,
                total,
                limit: WHOLE_LIST_ROWS,
            },
        ))
    }
}

/// The pager of a keyset list.
pub(crate) fn pager(p: PagerState) -> impl IntoView {
    let first = p.after.is_some().then(|| {
        view! { <a href=p.base.clone() rel="first">"« First page"</a> }
    });
    let previous = p
        .previous_href()
        .map(|h| view! { <a href=h rel="prev">"‹ Previous"</a> });
    let next = p
        .next_href()
        .map(|h| view! { <a href=h rel="next">"Next page »"</a> });
    let count = format!(
        "Page {} of {}",
        p.page(),
        crate::components::fmt_count(p.pages())
    );
    view! {
        <nav class="pager" aria-label="Pages">
            {first}{previous}
            <span class="page-count" id="page-count">{count}</span>
            {next}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(after: Option<i64>, back: Vec<i64>, next: Option<i64>) -> PagerState {
        PagerState {
            base: "/enrollments?program=2".into(),
            cursor: "after",
            after,
            back,
            next_after: next,
            total: 95,
            limit: 25,
        }
    }

    #[test]
    fn keyset_pages_count_and_go_back_one_page_at_a_time() {
        let first = state(None, vec![], Some(25));
        assert_eq!((first.page(), first.pages()), (1, 4));
        assert_eq!(first.previous_href(), None);
        assert_eq!(
            first.next_href().unwrap(),
            "/enrollments?program=2&after=25"
        );
        let second = state(Some(25), vec![], Some(50));
        assert_eq!(second.page(), 2);
        assert_eq!(second.previous_href().unwrap(), "/enrollments?program=2");
        assert_eq!(
            second.next_href().unwrap(),
            "/enrollments?program=2&after=50&back=25"
        );
        let fourth = state(Some(75), vec![25, 50], None);
        assert_eq!(fourth.page(), 4);
        assert_eq!(fourth.next_href(), None);
        assert_eq!(
            fourth.previous_href().unwrap(),
            "/enrollments?program=2&after=50&back=25"
        );
    }

    fn whole(after: Option<&str>) -> Result<WholeList, AppError> {
        WholeList::new("/events?status=Completed".into(), after)
    }

    #[test]
    fn a_whole_list_is_shown_a_page_at_a_time_with_its_page_count() {
        let rows: Vec<i32> = (0..60).collect();
        let (first, p) = whole(None).unwrap().page(rows.clone()).unwrap();
        assert_eq!((first.len(), first[0], p.page(), p.pages()), (25, 0, 1, 3));
        assert_eq!(p.previous_href(), None);
        assert_eq!(p.next_href().unwrap(), "/events?status=Completed&after=25");
        let (third, p) = whole(Some("50")).unwrap().page(rows.clone()).unwrap();
        assert_eq!((third.len(), third[0], p.page(), p.pages()), (10, 50, 3, 3));
        assert_eq!(p.next_href(), None);
        assert_eq!(
            p.previous_href().unwrap(),
            "/events?status=Completed&after=25"
        );
        // An empty list is one empty page, not an error.
        let (none, p) = whole(None).unwrap().page(Vec::<i32>::new()).unwrap();
        assert_eq!((none.len(), p.page(), p.pages()), (0, 1, 1));
    }

    #[test]
    fn a_whole_list_refuses_a_bad_or_past_the_end_cursor_by_name() {
        for bad in ["x", "-25", "2.5"] {
            assert!(
                matches!(whole(Some(bad)), Err(AppError::BadRequest(m)) if m.contains("`after`")),
                "{bad}"
            );
        }
        let rows: Vec<i32> = (0..30).collect();
        assert!(matches!(
            whole(Some("50")).unwrap().page(rows),
            Err(AppError::BadRequest(m)) if m.contains("30 rows")
        ));
    }

    #[test]
    fn a_bad_trail_is_refused_by_name() {
        let bad = vec![("back".to_string(), "1,x".to_string())];
        assert!(matches!(split_trail(bad), Err(AppError::BadRequest(m)) if m.contains("`back`")));
        let ok = vec![
            ("program".to_string(), "2".to_string()),
            ("back".to_string(), "25,50".to_string()),
        ];
        let (rest, back) = split_trail(ok).unwrap();
        assert_eq!(back, vec![25, 50]);
        assert_eq!(rest.len(), 1);
    }
}
