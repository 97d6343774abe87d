# Reader-drift references for analytics.stats.drift: OLS of score on worklist position, as lm + confint.
# Run: Rscript drift_reference.R > drift_reference.txt 2>&1   (from tests/reference/)
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
show_drift <- function(label, d) {
  cat("====", label, "====\n")
  fit <- lm(score ~ position, data = d)
  s <- summary(fit)$coefficients
  ci <- confint(fit, "position", level = 0.95)
  cat("slope =", format(s["position", "Estimate"], digits = 15), "\n")
  cat("conf_low =", format(ci[1], digits = 15), " conf_high =", format(ci[2], digits = 15), "\n")
  cat("p_value =", format(s["position", "Pr(>|t|)"], digits = 15), "\n")
  cat("n =", nrow(d), "\n\n")
}
# A reader whose VBQ creeps up along the worklist (0.01 per case) and one without drift.
set.seed(4)
d1 <- data.frame(position = 0:60, score = round(2.4 + 0.01 * (0:60) + rnorm(61, 0, 0.3), 4))
write.csv(d1, "drift_upward.csv", row.names = FALSE)
show_drift("upward drift (drift_upward.csv)", d1)
d2 <- data.frame(position = 0:60, score = round(2.4 + rnorm(61, 0, 0.3), 4))
write.csv(d2, "drift_none.csv", row.names = FALSE)
show_drift("no drift (drift_none.csv)", d2)
