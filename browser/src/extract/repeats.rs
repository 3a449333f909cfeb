//! Runs of lines a page shows twice in a row: a carousel clones its slides so that it
//! can loop, and a reader sees each slide once.
//!
//! Measured (`errand-bench extract --rendered`): wcxb-dev 0.852 -> 0.853 (service 0.824 ->
//! 0.826, product 0.647 -> 0.653, listing and collection +0.001 to +0.002, the rest
//! unchanged; every fold of five and every rest the same or better); news unchanged at
//! 0.970. Runs repeated further apart are often content, a meal plan's days or a table's
//! headers: dropping those too cost news 0.001.

/// The text without runs of `min_run` or more lines that repeat, line for line, the run
/// right before them: a carousel clones its slides so it can loop. Blank lines do not
/// count and stay; a run must hold six words or more.
pub(super) fn drop_repeated_runs(text: &str, min_run: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let idx: Vec<usize> = (0..lines.len()).filter(|&i| !lines[i].trim().is_empty()).collect();
    let key = |p: usize| lines[idx[p]].trim();
    let mut drop = vec![false; lines.len()];
    let mut seen: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    let mut p = 0;
    while p < idx.len() {
        // The longest run starting here that copies the run right before it.
        let best = seen
            .get(key(p))
            .into_iter()
            .flatten()
            .map(|&q| p - q)
            .filter(|&k| p + k <= idx.len() && (0..k).all(|i| key(p - k + i) == key(p + i)))
            .max()
            .unwrap_or(0);
        let words: usize = (p..p + best).map(|x| key(x).split_whitespace().count()).sum();
        if best >= min_run && words >= 6 {
            for x in p..p + best {
                drop[idx[x]] = true;
            }
            p += best;
            continue;
        }
        seen.entry(key(p)).or_default().push(p);
        p += 1;
    }
    if !drop.contains(&true) {
        return text.to_string();
    }
    let kept: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| !drop[*i]).map(|(_, l)| *l).collect();
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::drop_repeated_runs;

    #[test]
    fn a_run_repeated_right_after_itself_is_dropped_and_other_repeats_stay() {
        let slides = "Fast setup in minutes\nLoved by our whole team\nSupport that answers the same day";
        let table = [
            // (what extraction gave, what is kept)
            (format!("Intro\n{slides}\n{slides}\nOutro"), format!("Intro\n{slides}\nOutro")),
            // Blank lines between the slides do not hide the copy (they stay).
            (format!("{slides}\n\n{}", slides.replace('\n', "\n\n")), format!("{slides}\n\n\n")),
            // The same run further apart is content (a meal plan's days, a table's headers).
            (format!("{slides}\nDay two\n{slides}"), format!("{slides}\nDay two\n{slides}")),
            // Two lines are not a carousel, nor are runs of few words.
            ("Price\nPer month\nPrice\nPer month".to_string(), "Price\nPer month\nPrice\nPer month".to_string()),
            ("a\nb\nc\na\nb\nc".to_string(), "a\nb\nc\na\nb\nc".to_string()),
        ];
        for (given, kept) in table {
            assert_eq!(drop_repeated_runs(&given, 3), kept, "from {given:?}");
        }
    }
}
