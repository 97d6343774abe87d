# Mixed-model ICC references for analytics.stats.icc_lmm (lme4, as psych::ICC(lmer = TRUE) fits it).
# Run: Rscript icc_lmm_reference.R > icc_lmm_reference.txt 2>&1   (from tests/reference/)
# Model: lmer(score ~ 1 + (1 | subject) + (1 | rater), REML = TRUE) on long data where missing ratings are
# absent rows. ICC agreement = vs / (vs + vr + ve); consistency = vs / (vs + ve).
# The data sets are generated here (held out from the Python side) and written as CSV.
options(digits = 15, width = 200)
suppressMessages({library(lme4); library(psych)})
cat(R.version.string, "\nlme4", as.character(packageVersion("lme4")), "psych", as.character(packageVersion("psych")), "\n\n")

show_lmm <- function(label, d) {
  cat("====", label, "====\n")
  fit <- lmer(score ~ 1 + (1 | subject) + (1 | rater), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12)))
  vc <- as.data.frame(VarCorr(fit))
  vs <- vc$vcov[vc$grp == "subject"]; vr <- vc$vcov[vc$grp == "rater"]; ve <- vc$vcov[vc$grp == "Residual"]
  cat("var_subject =", format(vs, digits = 15), "\n")
  cat("var_rater =", format(vr, digits = 15), "\n")
  cat("var_residual =", format(ve, digits = 15), "\n")
  cat("icc_agreement =", format(vs / (vs + vr + ve), digits = 15), "\n")
  cat("icc_consistency =", format(vs / (vs + ve), digits = 15), "\n")
  cat("REML criterion =", format(REMLcrit(fit), digits = 15), "\n")
  cat("n_subjects =", length(unique(d$subject)), " n_raters =", length(unique(d$rater)), " n_ratings =", nrow(d), "\n")
  # psych's own lmer route on the wide table with the missing cells (missing = FALSE keeps incomplete rows)
  w <- reshape(d, idvar = "subject", timevar = "rater", direction = "wide")
  w <- w[order(w$subject), -1]
  p <- suppressMessages(suppressWarnings(psych::ICC(w, missing = FALSE, lmer = TRUE)))
  cat("psych::ICC(lmer = TRUE, missing = FALSE) ICC2 =", format(p$results["Single_random_raters", "ICC"], digits = 15),
      " ICC3 =", format(p$results["Single_fixed_raters", "ICC"], digits = 15), "\n")
  print(p$lme)
  cat("\n")
}

# 1. Simulated: 30 subjects x 4 raters, each rating missing with probability 0.25.
set.seed(16)
n <- 30; k <- 4
subj <- rnorm(n, 0, 1); rat <- rnorm(k, 0, 0.4)
d1 <- expand.grid(rater = sprintf("r%d", 1:k), subject = sprintf("s%02d", 1:n), stringsAsFactors = FALSE)[, c(2, 1)]
d1$score <- round(5 + subj[match(d1$subject, sprintf("s%02d", 1:n))] + rat[match(d1$rater, sprintf("r%d", 1:k))] +
                  rnorm(nrow(d1), 0, 0.5), 4)
d1 <- d1[runif(nrow(d1)) > 0.25, ]
write.csv(d1, "icc_lmm_unbalanced.csv", row.names = FALSE)
show_lmm("simulated 30 x 4, 25% missing (icc_lmm_unbalanced.csv)", d1)

# 2. A reader part-way through: 61 cases x 3 readers, reader r1 rated only the first 4 (the demo's shape).
set.seed(61)
n <- 61
truth <- rnorm(n, 2.5, 0.55)
d2 <- expand.grid(rater = c("r1", "r2", "r3"), subject = sprintf("c%02d", 1:n), stringsAsFactors = FALSE)[, c(2, 1)]
bias <- c(r1 = 0.1, r2 = 0, r3 = -0.15)
d2$score <- round(truth[match(d2$subject, sprintf("c%02d", 1:n))] + bias[d2$rater] + rnorm(nrow(d2), 0, 0.25), 4)
d2 <- d2[!(d2$rater == "r1" & d2$subject > "c04"), ]
write.csv(d2, "icc_lmm_partial_reader.csv", row.names = FALSE)
show_lmm("61 x 3, r1 part-way (4 cases) (icc_lmm_partial_reader.csv)", d2)

# 3. irr anxiety (20 x 3) with 8 ratings removed (every 7th cell of the long table).
anx <- read.csv("irr_anxiety.csv")
d3 <- data.frame(subject = rep(sprintf("a%02d", 1:20), times = 3), rater = rep(names(anx), each = 20),
                 score = unlist(anx), stringsAsFactors = FALSE)
d3 <- d3[order(d3$subject, d3$rater), ]
d3 <- d3[seq_len(nrow(d3)) %% 7 != 0, ]
rownames(d3) <- NULL
write.csv(d3, "icc_lmm_anxiety_missing.csv", row.names = FALSE)
show_lmm("irr anxiety with every 7th rating removed (icc_lmm_anxiety_missing.csv)", d3)

# 4. Complete data: Shrout & Fleiss (6 x 4); the LMM equals the ANOVA ICC(2,1)/ICC(3,1) here.
sf <- read.csv("shrout_fleiss.csv")
show_lmm("Shrout & Fleiss complete (shrout_fleiss.csv, target/judge/rating)",
         data.frame(subject = sprintf("t%d", sf$target), rater = sprintf("j%d", sf$judge), score = sf$rating))
