//! A tally's arithmetic in the committee's language, from its numbers.
//!
//! `rules::tally` keeps a working in English with the Japanese terms (the
//! record, `rules check`, logs for developers). A Japanese result mail must
//! read as a secretary would write it, so this writes the same steps in
//! Japanese from the tally's numbers and the rule, with the same exact
//! cross-multiplication (`Bar::working`), never from the English lines.

use super::rules::{Base, Delegation, Profile, Tally, Tie};

/// Each step of `t` under `profile`, in Japanese: N and the answers, who is
/// present, validity, then approval (or why it is not judged), and a tie.
pub fn in_japanese(profile: &Profile, t: &Tally) -> Vec<String> {
    let c = t.counts;
    let mut lines = vec![format!(
        "全会員数 N = {}。賛成 {}、反対 {}、棄権 {}、一任 {}",
        c.eligible, c.yes, c.no, c.abstain, c.delegate
    )];
    let a_present = if profile.abstentions_present {
        c.abstain
    } else {
        0
    };
    lines.push(format!(
        "返信数 = 賛成 {} + 反対 {} + 棄権 {} + 一任 {} = {}{}",
        c.yes,
        c.no,
        a_present,
        c.delegate,
        t.present,
        if profile.abstentions_present {
            ""
        } else {
            "（この規則では棄権を返信に数えません）"
        }
    ));
    lines.push(format!(
        "成立の条件は、返信数が{}であること: {} → {}",
        profile.quorum.describe_ja(),
        profile.quorum.working(t.present, c.eligible),
        if t.valid { "成立" } else { "不成立" }
    ));
    if !t.valid {
        lines.push("不成立のため、承認の判定は行いません".into());
        return lines;
    }
    let favour = match profile.delegation {
        Delegation::InFavour => format!("賛成 {} + 一任 {} = {}", c.yes, c.delegate, t.in_favour),
        _ => t.in_favour.to_string(),
    };
    let base = match profile.threshold.base {
        Base::Members => "全会員数",
        Base::Present if profile.delegation == Delegation::QuorumOnly => "返信数（一任を除く）",
        Base::Present => "返信数",
        Base::YesNo => "賛成と反対の数",
    };
    lines.push(format!("賛成の数 = {favour}、基準（{base}）= {}", t.base));
    lines.push(format!(
        "承認の条件は、賛成が{}であること: {} → {}",
        profile.threshold.describe_ja(),
        profile.threshold.working(t.in_favour, t.base),
        if profile.threshold.cleared(t.in_favour, t.base) && t.base > 0 {
            "承認"
        } else {
            "承認に届かず"
        }
    ));
    if t.tie {
        lines.push(match (profile.tie, t.approved) {
            (Tie::Chair, true) => "賛否同数: 規則により議長の判断に従い、議長が賛成 → 承認".into(),
            (Tie::Chair, false) => {
                "賛否同数: 規則により議長の判断に従い、議長の賛成がないため → 否決".into()
            }
            _ => "賛否同数: 同数は過半数ではないため → 否決".into(),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::rules::{shipped, tally, Counts};

    fn isogj() -> Profile {
        shipped()
            .into_iter()
            .find(|p| p.name == "isogj-email")
            .unwrap()
    }

    fn counts(eligible: u32, yes: u32, no: u32, abstain: u32) -> Counts {
        Counts {
            eligible,
            yes,
            no,
            abstain,
            delegate: 0,
        }
    }

    #[test]
    fn the_working_of_an_approved_round_is_japanese_with_its_numbers() {
        let p = isogj();
        let t = tally(&p, counts(17, 6, 2, 1), None).unwrap();
        let lines = in_japanese(&p, &t);
        assert_eq!(lines[0], "全会員数 N = 17。賛成 6、反対 2、棄権 1、一任 0");
        assert_eq!(lines[1], "返信数 = 賛成 6 + 反対 2 + 棄権 1 + 一任 0 = 9");
        assert!(
            lines[2].contains("9 × 2 = 18 ≥ 1 × 17 = 17 → 成立"),
            "{lines:?}"
        );
        assert!(lines.last().unwrap().ends_with("→ 承認"), "{lines:?}");
        // No English connective in a Japanese mail.
        for l in &lines {
            assert!(!l.contains("iff") && !l.contains("valid"), "{l}");
        }
    }

    #[test]
    fn a_round_that_is_not_valid_does_not_judge_approval() {
        let p = isogj();
        let t = tally(&p, counts(17, 3, 0, 0), None).unwrap();
        let lines = in_japanese(&p, &t);
        assert!(lines[2].ends_with("→ 不成立"), "{lines:?}");
        assert_eq!(
            lines.last().unwrap(),
            "不成立のため、承認の判定は行いません"
        );
    }

    #[test]
    fn a_tie_says_why_it_is_rejected() {
        let p = isogj();
        let t = tally(&p, counts(10, 3, 3, 0), None).unwrap();
        let lines = in_japanese(&p, &t);
        assert!(lines.last().unwrap().starts_with("賛否同数"), "{lines:?}");
        assert!(lines.last().unwrap().ends_with("否決"), "{lines:?}");
    }
}
