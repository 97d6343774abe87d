# Youden cut-off CI references for analytics.stats.roc_bootstrap (pROC's aSAH data).
# Run: Rscript roc_cutoff_ci_reference.R > roc_cutoff_ci_reference.txt 2>&1   (from tests/reference/)
# 1. pROC's own ci.coords(x = "best", best.method = "youden", boot.n = 2000, boot.stratified = TRUE) for several
#    seeds: the bootstrap's Monte Carlo spread, against which the Python interval (other random numbers) is judged.
#    best.policy = "random" (the default "stop" aborts when a resample has tied best thresholds).
# 2. A fixed set of 500 stratified resamples drawn here and written to roc_cutoff_resamples.csv (0-based
#    positions into the cases and controls, in the order of asah.csv); for each, the best Youden point with
#    ties broken by the highest sensitivity (VBQ Reader's rule), and the type-7 percentiles of those points:
#    the Python procedure must reproduce these exactly.
options(digits = 15, width = 200)
suppressMessages(library(pROC))
cat(R.version.string, "\npROC", as.character(packageVersion("pROC")), "\n\n")
d <- read.csv("asah.csv")
r <- roc(d$outcome, d$s100b, levels = c("Good", "Poor"), direction = "<", quiet = TRUE)
cat("==== s100b, Poor positive, direction '<' (higher = positive) ====\n")
print(coords(r, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity")))
for (s in c(1, 2, 3, 4, 5, 6, 7, 8)) {
  set.seed(s)
  ci <- ci.coords(r, x = "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"),
                  boot.n = 2000, boot.stratified = TRUE, best.policy = "random", progress = "none")
  cat(sprintf("seed %d: threshold %s %s %s | sensitivity %s %s %s | specificity %s %s %s\n", s,
              format(ci$threshold[1], digits = 15), format(ci$threshold[2], digits = 15), format(ci$threshold[3], digits = 15),
              format(ci$sensitivity[1], digits = 15), format(ci$sensitivity[2], digits = 15), format(ci$sensitivity[3], digits = 15),
              format(ci$specificity[1], digits = 15), format(ci$specificity[2], digits = 15), format(ci$specificity[3], digits = 15)))
}

cat("\n==== fixed resamples (roc_cutoff_resamples.csv) ====\n")
cases <- d$s100b[d$outcome == "Poor"]; controls <- d$s100b[d$outcome == "Good"]
set.seed(2016)
B <- 500
best <- matrix(NA, B, 3, dimnames = list(NULL, c("threshold", "sensitivity", "specificity")))
lines <- character(B)
for (b in seq_len(B)) {
  ic <- sample(length(controls), replace = TRUE); ia <- sample(length(cases), replace = TRUE)
  rb <- roc(controls = controls[ic], cases = cases[ia], direction = "<", quiet = TRUE)
  cb <- coords(rb, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  cb <- cb[order(-cb$sensitivity), , drop = FALSE][1, ]
  best[b, ] <- c(cb$threshold, cb$sensitivity, cb$specificity)
  lines[b] <- paste(b, paste(ia - 1, collapse = " "), paste(ic - 1, collapse = " "), sep = ",")
}
writeLines(c("resample,case_positions,control_positions", lines), "roc_cutoff_resamples.csv")
q <- function(x) quantile(x, c(0.025, 0.5, 0.975), type = 7)
cat("first 5 resamples' best points:\n"); print(best[1:5, ])
cat("threshold quantiles =", format(q(best[, 1]), digits = 15), "\n")
cat("sensitivity quantiles =", format(q(best[, 2]), digits = 15), "\n")
cat("specificity quantiles =", format(q(best[, 3]), digits = 15), "\n")
cat("sum of thresholds =", format(sum(best[, 1]), digits = 15), "\n")
