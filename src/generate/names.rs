//! Dutch personal names for synthetic patients, contacts and staff, and their FHIR
//! `HumanName` in the nl-core NameInformation shape: own prefix ("van der") kept apart from
//! the own surname, partner prefix/surname for married names, naamgebruik (NL1–NL4) in the
//! `humanname-assembly-order` extension, given names with the `iso21090-EN-qualifier` BR/CL.
//!
//! The lists are common Dutch names; any resemblance to a real person is coincidence.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// Female given names (an old-fashioned mix, as on a medical ward).
const FEMALE: &[&str] = &[
    "Johanna",
    "Maria",
    "Cornelia",
    "Wilhelmina",
    "Hendrika",
    "Geertruida",
    "Anna",
    "Elisabeth",
    "Margaretha",
    "Catharina",
    "Petronella",
    "Aaltje",
    "Jannetje",
    "Grietje",
    "Gerda",
    "Ria",
    "Anneke",
    "Ingrid",
    "Marja",
    "Els",
    "Annemarie",
    "Monique",
    "Sandra",
    "Linda",
    "Esther",
    "Marieke",
    "Saskia",
    "Femke",
    "Lotte",
    "Sanne",
    "Fatima",
    "Noor",
    "Emma",
    "Julia",
    "Sophie",
    "Yvonne",
    "Tineke",
    "Truus",
    "Joke",
    "Hennie",
];

/// Male given names.
const MALE: &[&str] = &[
    "Johannes",
    "Cornelis",
    "Hendrik",
    "Jacobus",
    "Pieter",
    "Willem",
    "Gerrit",
    "Jan",
    "Adrianus",
    "Theodorus",
    "Antonius",
    "Franciscus",
    "Gerardus",
    "Dirk",
    "Klaas",
    "Kees",
    "Henk",
    "Wim",
    "Piet",
    "Joop",
    "Ton",
    "Hans",
    "Rob",
    "Marcel",
    "Erik",
    "Peter",
    "Mark",
    "Dennis",
    "Bas",
    "Thijs",
    "Daan",
    "Mohamed",
    "Ahmed",
    "Ruud",
    "Frank",
    "Bert",
    "Arie",
    "Teun",
    "Sjoerd",
    "Bram",
];

/// Surnames with their voorvoegsel (empty when none), weighted towards the common ones by
/// repetition-free listing: the frequency of prefixes roughly follows Dutch practice.
const SURNAMES: &[(&str, &str)] = &[
    ("de", "Jong"),
    ("", "Jansen"),
    ("de", "Vries"),
    ("van den", "Berg"),
    ("van", "Dijk"),
    ("", "Bakker"),
    ("", "Janssen"),
    ("", "Visser"),
    ("", "Smit"),
    ("", "Meijer"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("de", "Groot"),
    ("", "Bos"),
    ("", "Vos"),
    ("", "Peters"),
    ("", "Hendriks"),
    ("van", "Leeuwen"),
    ("", "Dekker"),
    ("", "Brouwer"),
    ("de", "Wit"),
    ("", "Dijkstra"),
    ("", "Smits"),
    ("de", "Graaf"),
    ("van der", "Meer"),
    ("van der", "Linden"),
    ("", "Kok"),
    ("", "Jacobs"),
    ("de", "Haan"),
    ("", "Vermeulen"),
    ("van den", "Heuvel"),
    ("van der", "Veen"),
    ("van den", "Broek"),
    ("de", "Bruijn"),
    ("de", "Bruin"),
    ("van der", "Heijden"),
    ("", "Schouten"),
    ("van", "Beek"),
    ("", "Willems"),
    ("van", "Vliet"),
    ("van de", "Ven"),
    ("", "Hoekstra"),
    ("", "Maas"),
    ("", "Verhoeven"),
    ("", "Koster"),
    ("van", "Dam"),
    ("van der", "Wal"),
    ("", "Prins"),
    ("", "Blom"),
    ("", "Huisman"),
    ("", "Peeters"),
    ("de", "Koning"),
    ("van", "Putten"),
    ("van der", "Giessen"),
    ("", "Yilmaz"),
    ("", "El Amrani"),
    ("", "Kramer"),
    ("", "Postma"),
    ("ter", "Horst"),
    ("van 't", "Hof"),
];

/// Administrative sex of a generated person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gender {
    Female,
    Male,
}

impl Gender {
    pub(super) fn fhir(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }
}

/// Naamgebruik (name usage) as in zib NameInformation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameUsage {
    /// NL1: own name only.
    Own,
    /// NL2: partner name only.
    Partner,
    /// NL3: partner name followed by own name.
    PartnerOwn,
    /// NL4: own name followed by partner name.
    OwnPartner,
}

impl NameUsage {
    fn code(self) -> &'static str {
        match self {
            NameUsage::Own => "NL1",
            NameUsage::Partner => "NL2",
            NameUsage::PartnerOwn => "NL3",
            NameUsage::OwnPartner => "NL4",
        }
    }
}

/// A generated Dutch name.
#[derive(Debug, Clone)]
pub(super) struct DutchName {
    pub given: Vec<String>,
    /// Roepnaam when it differs from the first given name.
    pub call_name: Option<String>,
    pub prefix: Option<String>,
    pub surname: String,
    pub partner_prefix: Option<String>,
    pub partner_surname: Option<String>,
    pub usage: NameUsage,
}

fn join_prefix(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{p} {name}"),
        _ => name.to_string(),
    }
}

impl DutchName {
    /// A random name for a person of `gender`; women may carry a partner name.
    pub(super) fn random(rng: &mut ChaCha8Rng, gender: Gender, formal: bool) -> DutchName {
        let pool = match gender {
            Gender::Female => FEMALE,
            Gender::Male => MALE,
        };
        let n_given = if formal { rng.gen_range(1..=3) } else { 1 };
        let given: Vec<String> = pool
            .choose_multiple(rng, n_given)
            .map(|s| s.to_string())
            .collect();
        let call_name = (formal && rng.gen_bool(0.25))
            .then(|| short_form(given.first().map(String::as_str).unwrap_or("")))
            .flatten();
        let (prefix, surname) = pick_surname(rng);
        let (partner_prefix, partner_surname, usage) =
            if gender == Gender::Female && formal && rng.gen_bool(0.3) {
                let (pp, ps) = pick_surname(rng);
                let usage = match rng.gen_range(0..10) {
                    0..=3 => NameUsage::OwnPartner,
                    4..=6 => NameUsage::PartnerOwn,
                    7..=8 => NameUsage::Partner,
                    _ => NameUsage::Own,
                };
                (pp, Some(ps), usage)
            } else {
                (None, None, NameUsage::Own)
            };
        DutchName {
            given,
            call_name,
            prefix,
            surname,
            partner_prefix,
            partner_surname,
            usage,
        }
    }

    fn own(&self) -> String {
        join_prefix(self.prefix.as_deref(), &self.surname)
    }

    fn partner(&self) -> Option<String> {
        self.partner_surname
            .as_deref()
            .map(|s| join_prefix(self.partner_prefix.as_deref(), s))
    }

    /// The family part as written under the naamgebruik, e.g. "van Putten-van der Giessen".
    pub(super) fn family(&self) -> String {
        let own = self.own();
        match (self.usage, self.partner()) {
            (NameUsage::Partner, Some(p)) => p,
            (NameUsage::PartnerOwn, Some(p)) => format!("{p}-{own}"),
            (NameUsage::OwnPartner, Some(p)) => format!("{own}-{p}"),
            _ => own,
        }
    }

    /// First name used in daily life.
    pub(super) fn first(&self) -> &str {
        self.call_name
            .as_deref()
            .or(self.given.first().map(String::as_str))
            .unwrap_or("")
    }

    /// Full display name, e.g. "Johanna Maria van Putten-van der Giessen".
    pub(super) fn full(&self) -> String {
        format!("{} {}", self.given.join(" "), self.family())
    }

    /// Short display name, e.g. "Jo van Putten".
    pub(super) fn short(&self) -> String {
        format!("{} {}", self.first(), self.family())
    }

    /// Initials, e.g. "J.M.".
    pub(super) fn initials(&self) -> String {
        self.given
            .iter()
            .filter_map(|g| g.chars().next())
            .map(|c| format!("{c}."))
            .collect()
    }

    /// The nl-core HumanName(s): the official name and, when there is one, the usual name.
    pub(super) fn fhir(&self) -> Vec<Value> {
        let mut family_ext = Vec::new();
        if let Some(p) = self.prefix.as_deref() {
            family_ext.push(json!({
                "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix",
                "valueString": p
            }));
        }
        family_ext.push(json!({
            "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-name",
            "valueString": self.surname
        }));
        if let Some(ps) = self.partner_surname.as_deref() {
            if let Some(pp) = self.partner_prefix.as_deref() {
                family_ext.push(json!({
                    "url": "http://hl7.org/fhir/StructureDefinition/humanname-partner-prefix",
                    "valueString": pp
                }));
            }
            family_ext.push(json!({
                "url": "http://hl7.org/fhir/StructureDefinition/humanname-partner-name",
                "valueString": ps
            }));
        }
        let given_ext: Vec<Value> = self
            .given
            .iter()
            .map(|_| {
                json!({"extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",
                    "valueCode": "BR"
                }]})
            })
            .collect();
        let mut names = vec![json!({
            "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order",
                "valueCode": self.usage.code()
            }],
            "use": "official",
            "text": self.full(),
            "family": self.family(),
            "_family": {"extension": family_ext},
            "given": self.given,
            "_given": given_ext,
        })];
        if let Some(c) = self.call_name.as_deref() {
            names.push(json!({
                "use": "usual",
                "given": [c],
                "_given": [{"extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",
                    "valueCode": "CL"
                }]}]
            }));
        }
        names
    }

    /// A practitioner-style HumanName with initials ("J.H.R. Peters").
    pub(super) fn fhir_initials(&self) -> Value {
        let mut family_ext = Vec::new();
        if let Some(p) = self.prefix.as_deref() {
            family_ext.push(json!({
                "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix",
                "valueString": p
            }));
        }
        family_ext.push(json!({
            "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-name",
            "valueString": self.surname
        }));
        let initials: Vec<String> = self
            .given
            .iter()
            .filter_map(|g| g.chars().next())
            .map(|c| format!("{c}."))
            .collect();
        let given_ext: Vec<Value> = initials
            .iter()
            .map(|_| {
                json!({"extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",
                    "valueCode": "IN"
                }]})
            })
            .collect();
        json!({
            "use": "official",
            "text": format!("{} {}", self.initials(), self.own()),
            "family": self.own(),
            "_family": {"extension": family_ext},
            "given": initials,
            "_given": given_ext,
        })
    }

    /// A login name such as "jbakker": first initial and own surname, ASCII lower case.
    pub(super) fn user_id(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.first().chars().next() {
            s.extend(c.to_lowercase());
        }
        s.extend(
            self.surname
                .chars()
                .filter(|c| c.is_ascii_alphabetic())
                .flat_map(char::to_lowercase),
        );
        s
    }
}

fn pick_surname(rng: &mut ChaCha8Rng) -> (Option<String>, String) {
    let (p, s) = SURNAMES.choose(rng).copied().unwrap_or(("", "Jansen"));
    ((!p.is_empty()).then(|| p.to_string()), s.to_string())
}

/// A roepnaam for some formal first names ("Johanna" → "Jo").
fn short_form(first: &str) -> Option<String> {
    let s = match first {
        "Johanna" => "Jo",
        "Wilhelmina" => "Mien",
        "Hendrika" => "Riek",
        "Geertruida" => "Truus",
        "Elisabeth" => "Lies",
        "Margaretha" => "Greet",
        "Catharina" => "Toos",
        "Petronella" => "Nel",
        "Cornelia" => "Corrie",
        "Johannes" => "Hans",
        "Cornelis" => "Kees",
        "Hendrik" => "Henk",
        "Jacobus" => "Koos",
        "Adrianus" => "Adrie",
        "Theodorus" => "Theo",
        "Antonius" => "Ton",
        "Franciscus" => "Frans",
        "Gerardus" => "Gerard",
        "Willem" => "Wim",
        "Pieter" => "Piet",
        _ => return None,
    };
    Some(s.to_string())
}
