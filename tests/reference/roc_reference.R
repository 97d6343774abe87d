# ROC references for analytics.stats.roc (pROC's aSAH data, shipped with r-cran-proc).
# Run: Rscript roc_reference.R > roc_reference.txt 2>&1   (from tests/reference/)
options(digits = 15, width = 200)
suppressMessages(library(pROC))
cat(R.version.string, "\npROC", as.character(packageVersion("pROC")), "\n\n")
data(aSAH)
out <- aSAH
out$wfns <- as.integer(as.character(aSAH$wfns))   # ordered factor 1..5 -> its numeric score
write.csv(out, "asah.csv", row.names = FALSE)
cat("n =", nrow(aSAH), " Poor =", sum(aSAH$outcome == "Poor"), " Good =", sum(aSAH$outcome == "Good"), "\n\n")

cat("==== s100b, Poor positive, direction '<' (higher = positive) ====\n")
r <- roc(aSAH$outcome, aSAH$s100b, levels = c("Good", "Poor"), direction = "<")
print(r$auc)
cat("auc =", format(as.numeric(r$auc), digits = 15), "\n")
cat("var (delong) =", format(var(r), digits = 15), "\n")
print(ci.auc(r, method = "delong"))
cat("ci.auc delong =", format(as.numeric(ci.auc(r, method = "delong")), digits = 15), "\n")
print(coords(r, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv", "youden", "tp", "fp", "tn", "fn")))
cat("-- all thresholds --\n")
print(coords(r, "all", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv")))

cat("\n==== s100b, Poor positive, direction '>' (lower = positive) ====\n")
rl <- roc(aSAH$outcome, aSAH$s100b, levels = c("Good", "Poor"), direction = ">")
cat("auc =", format(as.numeric(rl$auc), digits = 15), "\n")
cat("ci.auc delong =", format(as.numeric(ci.auc(rl, method = "delong")), digits = 15), "\n")
print(coords(rl, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv")))

cat("\n==== ndka, Poor positive, direction '<' ====\n")
rn <- roc(aSAH$outcome, aSAH$ndka, levels = c("Good", "Poor"), direction = "<")
cat("auc =", format(as.numeric(rn$auc), digits = 15), "\n")
cat("ci.auc delong =", format(as.numeric(ci.auc(rn, method = "delong")), digits = 15), "\n")
print(coords(rn, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv")))

cat("\n==== wfns, Poor positive, direction '<' ====\n")
rw <- roc(aSAH$outcome, as.numeric(as.character(aSAH$wfns)), levels = c("Good", "Poor"), direction = "<")
cat("auc =", format(as.numeric(rw$auc), digits = 15), "\n")
cat("ci.auc delong =", format(as.numeric(ci.auc(rw, method = "delong")), digits = 15), "\n")
print(coords(rw, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv")))

cat("\n==== roc.test paired DeLong: s100b vs wfns ====\n")
t1 <- roc.test(r, rw, method = "delong", paired = TRUE)
print(t1)
cat("Z =", format(unname(t1$statistic), digits = 15), " p =", format(t1$p.value, digits = 15), "\n")
cat("\n==== roc.test paired DeLong: s100b vs ndka ====\n")
t2 <- roc.test(r, rn, method = "delong", paired = TRUE)
print(t2)
cat("Z =", format(unname(t2$statistic), digits = 15), " p =", format(t2$p.value, digits = 15), "\n")

cat("\n==== Wilson 95% CIs (prop.test, correct = FALSE) at the s100b best threshold ====\n")
b <- coords(r, "best", ret = c("tp", "fp", "tn", "fn"))
for (nm in c("sensitivity", "specificity", "ppv", "npv")) {
  x <- switch(nm, sensitivity = b$tp, specificity = b$tn, ppv = b$tp, npv = b$tn)
  n <- switch(nm, sensitivity = b$tp + b$fn, specificity = b$tn + b$fp, ppv = b$tp + b$fp, npv = b$tn + b$fn)
  ci <- prop.test(x, n, correct = FALSE)$conf.int
  cat(nm, ": ", x, "/", n, " = ", format(x / n, digits = 15), "  Wilson [", format(ci[1], digits = 15), ", ",
      format(ci[2], digits = 15), "]\n", sep = "")
}

cat("\n==== SPSS null-hypothesis p (SE0 = sqrt((n1 + n0 + 1) / (12 n1 n0))), DESIGN.md case ====\n")
auc <- 0.754; n1 <- 19; n0 <- 21
se0 <- sqrt((n1 + n0 + 1) / (12 * n1 * n0))
cat("SE0 =", format(se0, digits = 15), " z =", format((auc - 0.5) / se0, digits = 15),
    " p =", format(2 * pnorm(-abs(auc - 0.5) / se0), digits = 15), "\n")
n1 <- sum(aSAH$outcome == "Poor"); n0 <- sum(aSAH$outcome == "Good")
se0 <- sqrt((n1 + n0 + 1) / (12 * n1 * n0))
cat("aSAH s100b: SE0 =", format(se0, digits = 15), " p =",
    format(2 * pnorm(-abs(as.numeric(r$auc) - 0.5) / se0), digits = 15), "\n")
cat("aSAH s100b DeLong Wald p =", format(2 * pnorm(-abs(as.numeric(r$auc) - 0.5) / sqrt(var(r))), digits = 15), "\n")

cat("\n==== Wilson interval edges ====\n")
cat("prop.test(0, 10, correct = FALSE)$conf.int =", format(prop.test(0, 10, correct = FALSE)$conf.int, digits = 15), "\n")
cat("prop.test(10, 10, correct = FALSE)$conf.int =", format(prop.test(10, 10, correct = FALSE)$conf.int, digits = 15), "\n")
