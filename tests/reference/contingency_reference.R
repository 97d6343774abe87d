# Chi-square / Fisher exact references (mtcars).
# Run: Rscript contingency_reference.R > contingency_reference.txt 2>&1   (from tests/reference/)
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
write.csv(cbind(model = rownames(mtcars), mtcars), "mtcars.csv", row.names = FALSE)

show <- function(label, x) {
  cat("====", label, "====\n")
  print(unclass(x$observed))
  cat("X-squared =", format(unname(x$statistic), digits = 15), " df =", unname(x$parameter),
      " p =", format(x$p.value, digits = 15), "\n")
  cat("expected:\n"); print(unclass(x$expected), digits = 15); cat("\n")
}
show("chisq.test(table(mtcars$cyl, mtcars$gear))", suppressWarnings(chisq.test(table(mtcars$cyl, mtcars$gear))))
show("chisq.test(table(mtcars$am, mtcars$vs), correct = TRUE)",
     suppressWarnings(chisq.test(table(mtcars$am, mtcars$vs), correct = TRUE)))
show("chisq.test(table(mtcars$am, mtcars$vs), correct = FALSE)",
     suppressWarnings(chisq.test(table(mtcars$am, mtcars$vs), correct = FALSE)))

cat("==== fisher.test(table(mtcars$am, mtcars$vs)) ====\n")
f <- fisher.test(table(mtcars$am, mtcars$vs))
cat("p =", format(f$p.value, digits = 15), " odds ratio (conditional MLE) =", format(unname(f$estimate), digits = 15),
    " CI =", format(f$conf.int, digits = 15), "\n")
