# Model formulas (mods = ~ ...). ketabridge/analyses/formulas.py has already checked the text
# against its allow-list; here the parsed expression is checked again (every name a column or an
# allowed function) and evaluated where only those functions are reachable: an environment
# with nothing behind it (emptyenv()), which model.frame also uses to evaluate the terms.

# The functions formulas.FUNCTIONS allows, the operators a formula is made of, and what
# model.frame and makepredictcall write around the terms (list, c).
kb_formula_functions <- function() c(
  "factor", "as.factor", "relevel", "I", "scale", "log", "log2", "log10", "log1p", "exp", "sqrt", "abs", "poly",
  "~", "+", "-", "*", "/", "^", ":", "(", "%in%", "|", "list", "c"
)

kb_formula_env <- function() {
  env <- new.env(parent = emptyenv())
  for (name in kb_formula_functions()) assign(name, get(name, envir = asNamespace("stats")), envir = env)
  env
}

# text: the checked formula; columns: the names of the data columns it may use.
kb_formula <- function(text, columns) {
  expr <- str2lang(text)
  unknown <- setdiff(all.names(expr), c(columns, kb_formula_functions(), "TRUE", "FALSE"))
  if (length(unknown)) stop("formula uses names that are neither columns nor allowed functions: ", paste(unknown, collapse = ", "))
  eval(expr, kb_formula_env())
}

# The moderator columns of a formula model as a data frame (names kept as given).
kb_formula_data <- function(mods) as.data.frame(mods, stringsAsFactors = FALSE, optional = TRUE)
