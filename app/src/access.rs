//! Which role may do what: one policy table (every action of the console and the REST API,
//! the roles allowed, and the words of the refusal) and the console's sections, whose
//! roles are those of the action that reads them.

use crate::model::Role;
use Role::*;

/// Everything a person may or may not do; [`POLICY`] says who may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    OpenHome,
    SeePersonalData,
    SeeEnrollmentCounts,
    ReadEnrollments,
    ChangeEnrollments,
    ReplaceDevices,
    ReadDevices,
    CheckDevices,
    RecordUnavailability,
    CancelUnavailability,
    OptOut,
    ReadPrograms,
    EditRules,
    ChangeProgramStatus,
    RunScores,
    ReadNetwork,
    ExportNetwork,
    ReadAggregators,
    EditAggregators,
    ReadMeterImports,
    ImportMeterData,
    ReadForecasts,
    UploadForecasts,
    ReadReductions,
    EditReductions,
    ReadEvents,
    CreateEvents,
    GenerateStages,
    SubmitEvents,
    ApproveEvents,
    DenyEvents,
    CancelEvents,
    MoveClock,
    ReadStrategies,
    EditStrategies,
    ArchiveStrategies,
    ReadSettlements,
    SettleEvents,
    SettleSeasons,
    ExportBilling,
    ReadReports,
    ReadAudit,
    ReadMonitor,
    ResubmitMessages,
    EditValueMaps,
    SendIntegrationMessages,
    ManageUsers,
    EditHolidays,
    ManageOpenAdrClients,
}

/// The policy: per action, the roles allowed and what a refusal says they may not do
/// ("you may not …"). The only place role rules are written.
pub const POLICY: &[(Action, &[Role], &str)] = &[
    (
        Action::OpenHome,
        &[ProgramManager, Operator, Approver, Auditor, Admin],
        "open the home page",
    ),
    (
        Action::SeePersonalData,
        &[ProgramManager, Admin],
        "see personal data",
    ),
    (
        Action::SeeEnrollmentCounts,
        &[ProgramManager, Admin],
        "see enrollment counts",
    ),
    (
        Action::ReadEnrollments,
        &[ProgramManager, Auditor, Admin],
        "read enrollments",
    ),
    (
        Action::ChangeEnrollments,
        &[ProgramManager, Admin],
        "change enrollments",
    ),
    (
        Action::ReplaceDevices,
        &[ProgramManager, Admin],
        "replace devices",
    ),
    (
        Action::ReadDevices,
        &[ProgramManager, Operator, Auditor, Admin],
        "read devices",
    ),
    (
        Action::CheckDevices,
        &[ProgramManager, Operator, Admin],
        "check devices",
    ),
    (
        Action::RecordUnavailability,
        &[ProgramManager, Admin],
        "record unavailability",
    ),
    (
        Action::CancelUnavailability,
        &[ProgramManager, Admin],
        "cancel unavailability",
    ),
    (
        Action::OptOut,
        &[ProgramManager, Admin],
        "opt customers out of events",
    ),
    (
        Action::ReadPrograms,
        &[ProgramManager, Operator, Approver, Auditor, Admin],
        "read programs",
    ),
    (
        Action::EditRules,
        &[ProgramManager, Admin],
        "edit program rules",
    ),
    (
        Action::ChangeProgramStatus,
        &[ProgramManager, Admin],
        "change a program's status",
    ),
    (Action::RunScores, &[Admin], "run the score calculation"),
    (
        Action::ReadNetwork,
        &[ProgramManager, Operator, Approver, Auditor, Admin],
        "read the network",
    ),
    (
        Action::ExportNetwork,
        &[Operator, Admin],
        "export the network model",
    ),
    (
        Action::ReadAggregators,
        &[ProgramManager, Auditor, Admin],
        "read aggregators",
    ),
    (
        Action::EditAggregators,
        &[ProgramManager, Admin],
        "add or edit aggregators",
    ),
    (
        Action::ReadMeterImports,
        &[ProgramManager, Admin],
        "read meter data imports",
    ),
    (
        Action::ImportMeterData,
        &[ProgramManager, Admin],
        "import meter data",
    ),
    (
        Action::ReadForecasts,
        &[Operator, Auditor, Admin],
        "read forecasts",
    ),
    (
        Action::UploadForecasts,
        &[Operator, Admin],
        "upload temperature forecasts",
    ),
    (
        Action::ReadReductions,
        &[ProgramManager, Operator, Auditor, Admin],
        "read the expected-reduction table",
    ),
    (
        Action::EditReductions,
        &[Operator, Admin],
        "edit the expected-reduction table",
    ),
    (
        Action::ReadEvents,
        &[Operator, Approver, Auditor, Admin],
        "see events",
    ),
    (Action::CreateEvents, &[Operator], "create events"),
    (Action::GenerateStages, &[Operator], "generate stages"),
    (Action::SubmitEvents, &[Operator], "submit events"),
    (Action::ApproveEvents, &[Approver], "approve events"),
    (Action::DenyEvents, &[Approver], "deny events"),
    (Action::CancelEvents, &[Operator, Approver], "cancel events"),
    (Action::MoveClock, &[Admin], "move the simulated clock"),
    (
        Action::ReadStrategies,
        &[Operator, Approver, Auditor, Admin],
        "see strategies",
    ),
    (
        Action::EditStrategies,
        &[Operator, Admin],
        "edit strategies",
    ),
    (
        Action::ArchiveStrategies,
        &[Operator, Admin],
        "archive strategies",
    ),
    (
        Action::ReadSettlements,
        &[ProgramManager, Auditor, Admin],
        "read settlements",
    ),
    (
        Action::SettleEvents,
        &[ProgramManager, Admin],
        "settle events",
    ),
    (
        Action::SettleSeasons,
        &[ProgramManager, Admin],
        "settle seasons",
    ),
    (
        Action::ExportBilling,
        &[ProgramManager, Auditor, Admin],
        "export billing",
    ),
    (
        Action::ReadReports,
        &[ProgramManager, Auditor, Admin],
        "read reports",
    ),
    (Action::ReadAudit, &[Auditor, Admin], "read the audit trail"),
    (
        Action::ReadMonitor,
        &[Auditor, Admin],
        "read the integration monitor",
    ),
    (Action::ResubmitMessages, &[Admin], "resubmit messages"),
    (Action::EditValueMaps, &[Admin], "edit value maps"),
    (
        Action::SendIntegrationMessages,
        &[Admin],
        "send integration messages",
    ),
    (Action::ManageUsers, &[Admin], "manage users"),
    (Action::EditHolidays, &[Admin], "edit the holiday calendar"),
    (
        Action::ManageOpenAdrClients,
        &[Admin],
        "manage OpenADR clients",
    ),
];

impl Action {
    pub const ALL: [Action; 49] = [
        Action::OpenHome,
        Action::SeePersonalData,
        Action::SeeEnrollmentCounts,
        Action::ReadEnrollments,
        Action::ChangeEnrollments,
        Action::ReplaceDevices,
        Action::ReadDevices,
        Action::CheckDevices,
        Action::RecordUnavailability,
        Action::CancelUnavailability,
        Action::OptOut,
        Action::ReadPrograms,
        Action::EditRules,
        Action::ChangeProgramStatus,
        Action::RunScores,
        Action::ReadNetwork,
        Action::ExportNetwork,
        Action::ReadAggregators,
        Action::EditAggregators,
        Action::ReadMeterImports,
        Action::ImportMeterData,
        Action::ReadForecasts,
        Action::UploadForecasts,
        Action::ReadReductions,
        Action::EditReductions,
        Action::ReadEvents,
        Action::CreateEvents,
        Action::GenerateStages,
        Action::SubmitEvents,
        Action::ApproveEvents,
        Action::DenyEvents,
        Action::CancelEvents,
        Action::MoveClock,
        Action::ReadStrategies,
        Action::EditStrategies,
        Action::ArchiveStrategies,
        Action::ReadSettlements,
        Action::SettleEvents,
        Action::SettleSeasons,
        Action::ExportBilling,
        Action::ReadReports,
        Action::ReadAudit,
        Action::ReadMonitor,
        Action::ResubmitMessages,
        Action::EditValueMaps,
        Action::SendIntegrationMessages,
        Action::ManageUsers,
        Action::EditHolidays,
        Action::ManageOpenAdrClients,
    ];

    fn entry(self) -> &'static (Action, &'static [Role], &'static str) {
        POLICY
            .iter()
            .find(|(a, _, _)| *a == self)
            .expect("every action is in the policy")
    }

    /// The roles that may do this.
    pub fn roles(self) -> &'static [Role] {
        self.entry().1
    }

    /// What a refusal says the viewer may not do (`Forbidden` carries this text).
    pub fn what(self) -> &'static str {
        self.entry().2
    }
}

/// Whether `role` may do `action`.
pub fn may(role: Role, action: Action) -> bool {
    action.roles().contains(&role)
}

pub struct Section {
    pub path: &'static str,
    pub label: &'static str,
    /// Opening the section is doing this action (reading what it shows).
    pub action: Action,
    /// Shown in the navigation bar.
    pub in_nav: bool,
}

impl Section {
    pub fn roles(&self) -> &'static [Role] {
        self.action.roles()
    }
}

pub const SECTIONS: &[Section] = &[
    Section {
        path: "/home",
        label: "Home",
        action: Action::OpenHome,
        in_nav: true,
    },
    Section {
        path: "/enrollments",
        label: "Enrollments",
        action: Action::ReadEnrollments,
        in_nav: true,
    },
    Section {
        path: "/devices",
        label: "Devices",
        action: Action::ReadDevices,
        in_nav: true,
    },
    Section {
        path: "/programs",
        label: "Programs",
        action: Action::ReadPrograms,
        in_nav: true,
    },
    Section {
        path: "/network",
        label: "Network",
        action: Action::ReadNetwork,
        in_nav: true,
    },
    Section {
        path: "/events",
        label: "Events",
        action: Action::ReadEvents,
        in_nav: true,
    },
    Section {
        path: "/strategies",
        label: "Strategies",
        action: Action::ReadStrategies,
        in_nav: true,
    },
    Section {
        path: "/forecast",
        label: "Forecast",
        action: Action::ReadForecasts,
        in_nav: true,
    },
    Section {
        path: "/reductions",
        label: "Reductions",
        action: Action::ReadReductions,
        in_nav: true,
    },
    Section {
        path: "/aggregators",
        label: "Aggregators",
        action: Action::ReadAggregators,
        in_nav: true,
    },
    Section {
        path: "/meter-data",
        label: "Meter data",
        action: Action::ReadMeterImports,
        in_nav: true,
    },
    Section {
        path: "/settlements",
        label: "Settlement",
        action: Action::ReadSettlements,
        in_nav: true,
    },
    Section {
        path: "/reports",
        label: "Reports",
        action: Action::ReadReports,
        in_nav: true,
    },
    Section {
        path: "/audit",
        label: "Audit trail",
        action: Action::ReadAudit,
        in_nav: true,
    },
    Section {
        path: "/monitor",
        label: "Integration",
        action: Action::ReadMonitor,
        in_nav: true,
    },
    Section {
        path: "/admin",
        label: "Users",
        action: Action::ManageUsers,
        in_nav: true,
    },
];

/// The section a path belongs to (`/enrollments/12` and `/enrollments.csv` belong to
/// `/enrollments`).
pub fn section_of(path: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| {
        path == s.path
            || path
                .strip_prefix(s.path)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
    })
}

/// Whether `role` may open `path`. Paths outside every section (the sign-in page, the
/// stylesheet) are open to all.
pub fn may_open(path: &str, role: Role) -> bool {
    section_of(path).is_none_or(|s| may(role, s.action))
}

/// The table of [`SECTIONS`] by role, as Markdown: the README's *Roles* table is this text,
/// and a test keeps the two the same.
pub fn sections_table_markdown() -> String {
    let mut out = String::from("| section | path |");
    for role in Role::ALL {
        out.push_str(&format!(" `{}` |", role.as_str()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    for s in SECTIONS {
        out.push_str(&format!("\n| {} | `{}` |", s.label, s.path));
        for role in Role::ALL {
            out.push_str(if may(role, s.action) {
                " ✓ |"
            } else {
                "   |"
            });
        }
    }
    out.push('\n');
    out
}

/// The page a person lands on after signing in.
pub fn home_of(_role: Role) -> &'static str {
    "/home"
}

/// Only same-site paths are followed after sign-in (no open redirect).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .filter(|n| section_of(n.split(['?', '#']).next().unwrap_or("")).is_some())
        .map(str::to_string)
}

/// The page a form was posted from, from its `Referer` (an absolute URL or a path): its path
/// if [`safe_next`] would follow it, so an error can send the browser back there.
pub fn referer_path(referer: Option<&str>) -> Option<String> {
    let referer = referer?;
    let path = match referer.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => referer,
    };
    safe_next(Some(path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_role_table_is_the_access_table() {
        let readme = include_str!("../../README.md");
        let table = super::sections_table_markdown();
        assert!(
            readme.contains(&table),
            "README's Roles table differs from access::SECTIONS; it should read:\n{table}"
        );
    }

    use super::*;

    #[test]
    fn a_referer_gives_back_its_same_site_path_only() {
        let back = |r| referer_path(Some(r));
        assert_eq!(
            back("http://x:3000/events?page=2").as_deref(),
            Some("/events?page=2")
        );
        assert_eq!(back("/meter-data").as_deref(), Some("/meter-data"));
        assert_eq!(back("https://x"), None, "no path");
        assert_eq!(
            back("http://x//evil.example/"),
            None,
            "no protocol-relative path"
        );
        assert_eq!(referer_path(None), None);
    }

    #[test]
    fn an_auditor_may_not_open_the_admin_pages() {
        assert!(!may_open("/admin/users", Auditor));
        assert!(may_open("/admin/users", Admin));
    }

    #[test]
    fn the_csv_export_belongs_to_its_list() {
        assert!(!may_open("/enrollments.csv", Operator));
        assert!(may_open("/enrollments.csv", ProgramManager));
    }

    #[test]
    fn the_forecast_is_for_operators_and_the_reduction_table_also_for_program_managers() {
        assert!(may_open("/forecast", Operator));
        assert!(may_open("/forecast", Auditor));
        assert!(!may_open("/forecast", ProgramManager));
        assert!(!may_open("/forecast", Approver));
        assert!(may_open("/reductions", ProgramManager));
        assert!(!may_open("/reductions", Approver));
    }

    #[test]
    fn reports_and_their_csv_are_for_auditors_admins_and_program_managers() {
        for role in [Auditor, Admin, ProgramManager] {
            assert!(may_open("/reports/events/3", role));
            assert!(may_open("/reports/events/3.csv", role));
            assert!(may_open("/reports/programs/SMT-BYOD.csv", role));
        }
        assert!(!may_open("/reports/events/3", Operator));
        assert!(!may_open("/reports/events/3.csv", Approver));
    }

    #[test]
    fn a_similar_prefix_is_not_the_same_section() {
        assert!(section_of("/homes").is_none());
        assert!(section_of("/audit/x").is_some());
    }

    #[test]
    fn sign_in_never_redirects_off_site() {
        assert_eq!(safe_next(Some("//evil.example/x")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(
            safe_next(Some("/enrollments?program=1")),
            Some("/enrollments?program=1".into())
        );
    }

    /// Who may do what, pinned: program manager, operator, approver, auditor, admin
    /// (`x` may, `.` may not). A change to the policy has to change this too.
    #[test]
    fn the_policy_is_pinned_action_by_action_and_role_by_role() {
        let pinned: &[(&str, &str)] = &[
            ("OpenHome", "xxxxx"),
            ("SeePersonalData", "x...x"),
            ("SeeEnrollmentCounts", "x...x"),
            ("ReadEnrollments", "x..xx"),
            ("ChangeEnrollments", "x...x"),
            ("ReplaceDevices", "x...x"),
            ("ReadDevices", "xx.xx"),
            ("CheckDevices", "xx..x"),
            ("RecordUnavailability", "x...x"),
            ("CancelUnavailability", "x...x"),
            ("OptOut", "x...x"),
            ("ReadPrograms", "xxxxx"),
            ("EditRules", "x...x"),
            ("ChangeProgramStatus", "x...x"),
            ("RunScores", "....x"),
            ("ReadNetwork", "xxxxx"),
            ("ExportNetwork", ".x..x"),
            ("ReadAggregators", "x..xx"),
            ("EditAggregators", "x...x"),
            ("ReadMeterImports", "x...x"),
            ("ImportMeterData", "x...x"),
            ("ReadForecasts", ".x.xx"),
            ("UploadForecasts", ".x..x"),
            ("ReadReductions", "xx.xx"),
            ("EditReductions", ".x..x"),
            ("ReadEvents", ".xxxx"),
            ("CreateEvents", ".x..."),
            ("GenerateStages", ".x..."),
            ("SubmitEvents", ".x..."),
            ("ApproveEvents", "..x.."),
            ("DenyEvents", "..x.."),
            ("CancelEvents", ".xx.."),
            ("MoveClock", "....x"),
            ("ReadStrategies", ".xxxx"),
            ("EditStrategies", ".x..x"),
            ("ArchiveStrategies", ".x..x"),
            ("ReadSettlements", "x..xx"),
            ("SettleEvents", "x...x"),
            ("SettleSeasons", "x...x"),
            ("ExportBilling", "x..xx"),
            ("ReadReports", "x..xx"),
            ("ReadAudit", "...xx"),
            ("ReadMonitor", "...xx"),
            ("ResubmitMessages", "....x"),
            ("EditValueMaps", "....x"),
            ("SendIntegrationMessages", "....x"),
            ("ManageUsers", "....x"),
            ("EditHolidays", "....x"),
            ("ManageOpenAdrClients", "....x"),
        ];
        assert_eq!(pinned.len(), Action::ALL.len());
        for (action, (name, mask)) in Action::ALL.iter().zip(pinned) {
            assert_eq!(&format!("{action:?}"), name);
            let actual: String = Role::ALL
                .iter()
                .map(|r| if may(*r, *action) { 'x' } else { '.' })
                .collect();
            assert_eq!(&actual, mask, "{action:?}");
        }
    }

    #[test]
    fn every_action_is_in_the_policy_once_with_words_for_a_refusal() {
        assert_eq!(POLICY.len(), Action::ALL.len());
        for action in Action::ALL {
            assert_eq!(POLICY.iter().filter(|(a, _, _)| *a == action).count(), 1);
            assert!(!action.what().is_empty());
        }
    }

    #[test]
    fn a_section_opens_for_the_roles_of_its_read_action() {
        assert_eq!(
            section_of("/forecast").unwrap().roles(),
            Action::ReadForecasts.roles()
        );
        assert!(may_open("/meter-data", ProgramManager));
        assert!(!may_open("/meter-data", Auditor));
    }
}
