//! Groups the active medication lines the way a nurse reads them: an administration
//! agreement (toedieningsafspraak) belongs to the medication agreement it is based on, so
//! one drug is one row — on the patient page and, above all, on the MAR, where two rows
//! for one drug would invite giving it twice. Administrations are matched to the group by
//! any of its line ids.

use crate::record::{Administration, MedicationKind, MedicationLine};

/// One drug as given: the leading line and the administration agreements based on it.
#[derive(Debug, Clone)]
pub struct MedGroup<'a> {
    pub main: &'a MedicationLine,
    pub admin: Vec<&'a MedicationLine>,
}

impl<'a> MedGroup<'a> {
    /// The line whose dosage is actually administered: the newest administration
    /// agreement when there is one, else the leading line.
    pub fn given_by(&self) -> &'a MedicationLine {
        self.admin.last().copied().unwrap_or(self.main)
    }

    /// True when the administration belongs to this group.
    pub fn owns(&self, a: &Administration) -> bool {
        let Some(id) = a.line_id.as_deref() else {
            return false;
        };
        self.main.id == id || self.admin.iter().any(|l| l.id == id)
    }
}

/// Groups lines, keeping the source order of the leading lines.
pub fn group_lines(lines: &[MedicationLine]) -> Vec<MedGroup<'_>> {
    let mut groups: Vec<MedGroup<'_>> = Vec::new();
    let attaches_to = |l: &MedicationLine| -> Option<usize> {
        if l.kind != MedicationKind::AdministrationAgreement {
            return None;
        }
        let base = l.based_on.as_deref()?;
        lines
            .iter()
            .position(|o| o.id == base && o.kind != MedicationKind::AdministrationAgreement)
    };
    let mut pending: Vec<(usize, &MedicationLine)> = Vec::new();
    let mut index_of_line: Vec<Option<usize>> = vec![None; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        match attaches_to(l) {
            Some(base) => pending.push((base, l)),
            None => {
                index_of_line[i] = Some(groups.len());
                groups.push(MedGroup {
                    main: l,
                    admin: Vec::new(),
                });
            }
        }
    }
    for (base, l) in pending {
        match index_of_line.get(base).copied().flatten() {
            Some(g) => {
                if let Some(group) = groups.get_mut(g) {
                    group.admin.push(l);
                }
            }
            None => groups.push(MedGroup {
                main: l,
                admin: Vec::new(),
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Drug;

    fn l(id: &str, kind: MedicationKind, based_on: Option<&str>) -> MedicationLine {
        MedicationLine {
            kind,
            id: id.into(),
            drug: Drug {
                name: id.into(),
                code: None,
                strength: None,
                form: None,
                ingredients: vec![],
            },
            dosages: vec![],
            start: None,
            end: None,
            prescriber: None,
            category: None,
            status: None,
            reason: None,
            note: None,
            based_on: based_on.map(str::to_owned),
        }
    }

    #[test]
    fn administration_agreement_joins_its_medication_agreement() {
        let lines = vec![
            l("A", MedicationKind::Agreement, None),
            l("TA", MedicationKind::AdministrationAgreement, Some("A")),
            l("B", MedicationKind::Agreement, None),
            l(
                "TX",
                MedicationKind::AdministrationAgreement,
                Some("missing"),
            ),
            l("U", MedicationKind::Use, None),
        ];
        let g = group_lines(&lines);
        let mains: Vec<&str> = g.iter().map(|g| g.main.id.as_str()).collect();
        assert_eq!(mains, ["A", "B", "TX", "U"]);
        assert_eq!(g[0].given_by().id, "TA");
        assert_eq!(g[1].given_by().id, "B");
    }
}
