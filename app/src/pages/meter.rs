//! The meter data page: upload (multipart, `POST /meter-data/upload`) or paste a CSV or
//! Green Button ESPI file to import it, see recent
//! imports and the report of one (rejected rows by line, gaps).

use leptos::prelude::*;

use super::{pairs, query_with, show};
use crate::api::{meter_imports, ImportMeterData};
use crate::components::*;
use crate::error::AppError;
use crate::model::*;

#[component]
pub fn MeterDataPage() -> impl IntoView {
    view! { <Guard><MeterDataView_/></Guard> }
}

fn selected_import(p: Vec<(String, String)>) -> Result<Option<i64>, AppError> {
    let mut selected = None;
    for (k, v) in pairs(&p) {
        if k == "import" && !v.is_empty() {
            selected = Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                AppError::BadRequest(format!("import: expected an import number, got `{v}`"))
            })?);
        }
    }
    Ok(selected)
}

fn import_form() -> impl IntoView {
    let action = ServerAction::<ImportMeterData>::new();
    let typed = |name: &str| kept_or::<ImportMeterData>(name, "");
    let (file_name, service_point, content) =
        (typed("file_name"), typed("service_point"), typed("content"));
    let espi = typed("format") == "espi";
    view! {
        <section class="card" id="meter-import">
            <h2>"Import interval data"</h2>
            <p>"CSV: a header " <code>"service_point_id,interval_start,interval_minutes,kwh"</code>
               " then one reading per line, e.g. " <code>"SP-0000001,2026-07-01T15:00:00Z,15,0.42"</code>
               " (RFC 3339 with an offset; 15 or 60 minutes on the UTC grid). Green Button: an ESPI Atom feed with uom 72 (Wh); the service point is the field below or the UsagePoint title. "
               "The file is checked whole; rejected rows are listed by line; the same file twice changes nothing. "
               "Upload a file of up to 4 MB, or paste up to about 60 KB; larger files go to "
               <code>"POST /api/v1/meter-data"</code>" in parts."</p>
            <form method="post" action="/meter-data/upload" enctype="multipart/form-data" id="meter-upload" class="filters">
                <CsrfField/>
                <label>"File (CSV or Green Button XML, up to 4 MB) " <input type="file" name="file" required accept=".csv,.txt,.xml,text/csv,application/xml"/></label>
                <label>"Format "
                    <select name="format">
                        <option value="auto" selected>"From the file name (.xml: Green Button)"</option>
                        <option value="csv">"CSV"</option>
                        <option value="espi">"Green Button ESPI XML"</option>
                    </select>
                </label>
                <label>"Service point (ESPI only) " <input type="text" name="service_point" maxlength="64"/></label>
                <button type="submit">"Upload and import"</button>
            </form>
            <h3>"Or paste the file's content"</h3>
            <ActionForm action=action attr:id="meter-paste">
                {kept_note_for::<ImportMeterData>()}
                <CsrfField/>
                <label>"File name " <input type="text" name="file_name" maxlength="200" placeholder="meter-2026-07.csv" value=file_name/></label>
                <label>"Format "
                    <select name="format">
                        <option value="csv" selected=!espi>"CSV"</option>
                        <option value="espi" selected=espi>"Green Button ESPI XML"</option>
                    </select>
                </label>
                <label>"Service point (ESPI only) " <input type="text" name="service_point" maxlength="64" value=service_point/></label>
                <label>"Content" <textarea name="content" id="meter-content" rows="10" cols="70" required>{content}</textarea></label>
                <button type="submit">"Import"</button>
            </ActionForm>
        </section>
    }
}

fn report(d: MeterImportDetail) -> impl IntoView {
    let rejections = (!d.rejections.is_empty()).then(|| {
        let rows = d
            .rejections
            .iter()
            .map(|r| view! { <tr><td class="num">{r.line}</td><td>{r.reason.clone()}</td></tr> })
            .collect_view();
        view! {
            <table class="data" id="meter-rejections"><thead><tr>
                <th class="num">"Line"</th><th>"Why it was rejected"</th>
            </tr></thead><tbody>{rows}</tbody></table>
        }
    });
    let gaps = (!d.gaps.is_empty()).then(|| {
        let items = d.gaps.iter().map(|g| view! { <li>{g.clone()}</li> }).collect_view();
        view! { <details><summary>{format!("{} gap(s) (reported only)", d.gaps.len())}</summary><ul>{items}</ul></details> }
    });
    view! {
        <section id="meter-report">
            <h2>{format!("Import #{}: {}", d.id, d.file_name)}</h2>
            <p>{d.message.clone()}</p>
            {rejections}
            {gaps}
        </section>
    }
}

#[allow(non_snake_case)]
#[component]
fn MeterDataView_() -> impl IntoView {
    let query = query_with(selected_import);
    let data = Resource::new(query, |q| async move { meter_imports(q?).await });
    view! {
        <h1>"Meter data"</h1>
        <p class="lead">"Interval readings per service point, the input of baselines and settlement."</p>
        {import_form()}
        {show(data, |v: MeterImportView| {
            let rows = v.imports.iter().map(|i| view! {
                <tr>
                    <td><a href=format!("/meter-data?import={}", i.id)>{format!("#{}", i.id)}</a></td>
                    <td>{i.file_name.clone()}</td>
                    <td>{i.format.clone()}</td>
                    <td>{i.imported_by.clone()}</td>
                    <td>{fmt_time(&i.imported_at)}</td>
                    <td class="num">{fmt_count(i.rows_accepted)}</td>
                    <td class="num">{fmt_count(i.rows_rejected)}</td>
                </tr>
            }).collect_view();
            view! {
                {v.selected.map(report)}
                <section>
                    <h2>"Recent imports"</h2>
                    <table class="data" id="meter-imports"><thead><tr>
                        <th>"Import"</th><th>"File"</th><th>"Format"</th><th>"By"</th><th>"At"</th>
                        <th class="num">"Stored"</th><th class="num">"Rejected"</th>
                    </tr></thead><tbody>{rows}</tbody></table>
                </section>
            }
        })}
    }
}
