//! Which role may open which part of the console: one table used by the navigation, the
//! page guards and the server's middleware.

use crate::model::Role;
use Role::*;

pub struct Section {
    pub path: &'static str,
    pub label: &'static str,
    pub roles: &'static [Role],
    /// Shown in the navigation bar.
    pub in_nav: bool,
}

pub const SECTIONS: &[Section] = &[
    Section {
        path: "/home",
        label: "Home",
        roles: &[ProgramManager, Operator, Approver, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/enrollments",
        label: "Enrollments",
        roles: &[ProgramManager, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/devices",
        label: "Devices",
        roles: &[ProgramManager, Operator, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/programs",
        label: "Programs",
        roles: &[ProgramManager, Operator, Approver, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/network",
        label: "Network",
        roles: &[ProgramManager, Operator, Approver, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/events",
        label: "Events",
        roles: &[Operator, Approver, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/strategies",
        label: "Strategies",
        roles: &[Operator, Approver, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/forecast",
        label: "Forecast",
        roles: &[Operator, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/reductions",
        label: "Reductions",
        roles: &[ProgramManager, Operator, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/aggregators",
        label: "Aggregators",
        roles: &[ProgramManager, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/meter-data",
        label: "Meter data",
        roles: &[ProgramManager, Admin],
        in_nav: true,
    },
    Section {
        path: "/settlements",
        label: "Settlement",
        roles: &[ProgramManager, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/reports",
        label: "Reports",
        roles: &[ProgramManager, Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/audit",
        label: "Audit trail",
        roles: &[Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/monitor",
        label: "Integration",
        roles: &[Auditor, Admin],
        in_nav: true,
    },
    Section {
        path: "/admin",
        label: "Users",
        roles: &[Admin],
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
    section_of(path).is_none_or(|s| s.roles.contains(&role))
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
            out.push_str(if s.roles.contains(&role) {
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
}
