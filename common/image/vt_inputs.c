#include "image/vt_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/vt_common.h"

typedef struct {
  char **items;
  int n, cap;
} str_list;

static void list_push(str_list *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->items = vt_xrealloc(l->items, (size_t)l->cap * sizeof *l->items);
  }
  l->items[l->n++] = s;
}

static void list_free(str_list *l) {
  for (int i = 0; i < l->n; i++) free(l->items[i]);
  free(l->items);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if the name has an image extension (jpg, jpeg, png, and the other
 * formats Keras lists, which then fail with a clear "unsupported" reason). */
static int is_image_name(const char *name) {
  static const char *const exts[] = {"jpg", "jpeg", "jpe", "png", "bmp", "gif",
                                     "tif", "tiff", "webp", "ppm", "pgm"};
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
    if (strcasecmp(dot + 1, exts[i]) == 0) return 1;
  return 0;
}

/* a/b; a folder typed with its trailing slash ("photos/") gives no "//" */
static char *join(const char *a, const char *b) {
  if (!*a) return vt_xstrdup(b);
  size_t na = strlen(a), nb = strlen(b);
  if (a[na - 1] == '/') na--;
  char *s = vt_xmalloc(na + nb + 2);
  memcpy(s, a, na);
  s[na] = '/';
  memcpy(s + na + 1, b, nb + 1);
  return s;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directories from the walk's start down to the current one: a symbolic
 * link back to one of them would make the walk go round (until the kernel's
 * 40-link limit, listing every image 40 times), so it is not followed. */
typedef struct dir_chain {
  dev_t dev;
  ino_t ino;
  const struct dir_chain *up;
} dir_chain;

static int in_chain(const dir_chain *c, const struct stat *st) {
  for (; c; c = c->up)
    if (c->dev == st->st_dev && c->ino == st->st_ino) return 1;
  return 0;
}

/* Appends image files under root/rel (recursively) to out as paths relative
 * to root. Hidden entries are skipped; other non-images are counted, and so
 * are links back to a directory being walked (up: the directories above). */
static int walk(const char *root, const char *rel, const dir_chain *up, str_list *out, vt_inputs *in) {
  char *dirpath = join(root, rel);
  struct stat st = {0}; /* if stat fails, opendir below says why */
  if (stat(dirpath, &st) == 0 && in_chain(up, &st)) {
    in->n_cycles++;
    free(dirpath);
    return 0;
  }
  dir_chain here = {st.st_dev, st.st_ino, up};
  DIR *d = opendir(dirpath);
  if (!d) {
    vt_fail("%s: cannot read directory: %s", dirpath, strerror(errno));
    free(dirpath);
    return -1;
  }
  str_list names = {0};
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') list_push(&names, vt_xstrdup(e->d_name));
  closedir(d);
  if (names.n > 1) qsort(names.items, (size_t)names.n, sizeof *names.items, cmp_str); /* items is NULL if none */
  int rc = 0;
  for (int i = 0; i < names.n && rc == 0; i++) {
    char *sub = join(rel, names.items[i]);
    char *full = join(root, sub);
    if (is_dir(full)) {
      rc = walk(root, sub, &here, out, in);
      free(sub);
    } else if (is_image_name(sub)) {
      list_push(out, sub);
    } else {
      in->n_ignored++;
      free(sub);
    }
    free(full);
  }
  free(dirpath);
  list_free(&names);
  return rc;
}

typedef struct {
  const char *path;
  int index;
} indexed_path;

static int cmp_indexed_path(const void *a, const void *b) {
  const indexed_path *x = a, *y = b;
  int c = strcmp(x->path, y->path);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Finds a path listed twice: returns 1 with the indexes of its first two
 * occurrences (the pair whose second comes earliest), 0 if all differ.
 * A repeated image would count twice and could land in both the training
 * and the validation split, so the caller refuses the list. */
static int find_repeat(char *const *paths, int n, int *first, int *second) {
  indexed_path *v = vt_xmalloc((size_t)(n ? n : 1) * sizeof *v);
  for (int i = 0; i < n; i++) v[i] = (indexed_path){paths[i], i};
  qsort(v, (size_t)n, sizeof *v, cmp_indexed_path);
  int found = 0;
  for (int k = 1; k < n; k++)
    if (strcmp(v[k].path, v[k - 1].path) == 0 && (!found || v[k].index < *second)) {
      *first = v[k - 1].index;
      *second = v[k].index;
      found = 1;
    }
  free(v);
  return found;
}

static void inputs_alloc(vt_inputs *in, int n) {
  in->n = n;
  in->path = vt_xcalloc((size_t)n, sizeof *in->path);
  in->full = vt_xcalloc((size_t)n, sizeof *in->full);
  in->label = vt_xcalloc((size_t)n, sizeof *in->label);
  in->split = vt_xcalloc((size_t)n, sizeof *in->split);
}

static int from_folders(const char *dir, vt_inputs *in) {
  memset(in, 0, sizeof *in);
  in->source = "folders";
  in->root = vt_xstrdup(dir);
  DIR *d = opendir(dir);
  if (!d) return vt_fail("%s: cannot read data directory: %s", dir, strerror(errno));
  str_list classes = {0};
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char *full = join(dir, e->d_name);
    struct stat st;
    if (stat(full, &st) != 0) {
      /* e.g. a link to an unmounted disk: it may have been meant as a class */
      if (in->n_unreadable_entries++ == 0) {
        size_t n = strlen(e->d_name) + 128;
        in->first_unreadable_entry = vt_xmalloc(n);
        snprintf(in->first_unreadable_entry, n, "%s: %s", e->d_name, strerror(errno));
      }
    } else if (S_ISDIR(st.st_mode)) {
      list_push(&classes, vt_xstrdup(e->d_name));
    } else if (is_image_name(e->d_name)) {
      in->n_root_images++;
    }
    free(full);
  }
  closedir(d);
  if (classes.n == 0) {
    list_free(&classes);
    if (in->n_root_images)
      return vt_fail("%s: no class folders, only %d image file%s (--data expects one sub-folder of images per "
                     "class; --files %s takes a folder of unlabelled images)",
                     dir, in->n_root_images, in->n_root_images == 1 ? "" : "s", dir);
    return vt_fail("%s: no class folders (expected one sub-folder of images per class)", dir);
  }
  qsort(classes.items, (size_t)classes.n, sizeof *classes.items, cmp_str);
  struct stat root_st;
  if (stat(dir, &root_st) != 0) {
    list_free(&classes);
    return vt_fail("%s: cannot read data directory: %s", dir, strerror(errno));
  }
  dir_chain root_chain = {root_st.st_dev, root_st.st_ino, NULL};
  str_list files = {0};
  int *labels = NULL, cap = 0;
  /* A folder without image files is not a class: kept, it would be a class
   * with no rows, which the trainer refuses. Its name is kept for the note. */
  int n_kept = 0;
  for (int c = 0; c < classes.n; c++) {
    int before = files.n;
    if (walk(dir, classes.items[c], &root_chain, &files, in) < 0) {
      for (int k = 0; k < n_kept; k++) free(classes.items[k]); /* the rest moved or were freed */
      for (int k = c; k < classes.n; k++) free(classes.items[k]);
      free(classes.items);
      list_free(&files);
      free(labels);
      return -1;
    }
    if (files.n == before) {
      if (in->n_empty_classes++ == 0) in->first_empty_class = classes.items[c];
      else free(classes.items[c]);
      continue;
    }
    if (files.n > cap) {
      cap = files.cap;
      labels = vt_xrealloc(labels, (size_t)cap * sizeof *labels);
    }
    for (int i = before; i < files.n; i++) labels[i] = n_kept;
    classes.items[n_kept++] = classes.items[c];
  }
  classes.n = n_kept;
  if (files.n == 0) {
    list_free(&classes);
    list_free(&files);
    free(labels);
    return vt_fail("%s: no image files in any class folder", dir);
  }
  inputs_alloc(in, files.n);
  for (int i = 0; i < files.n; i++) {
    in->path[i] = files.items[i];
    in->full[i] = join(dir, files.items[i]);
    in->label[i] = labels[i];
    in->split[i] = vt_xstrdup("");
  }
  free(files.items);
  free(labels);
  in->n_classes = classes.n;
  in->classes = classes.items;
  return 0;
}

/* Reads one CSV record (RFC 4180: quoted fields, doubled quotes, CRLF) into
 * fields; returns the field count, 0 at end of file, -1 on error. Outside
 * quotes a lone CR ends a line too, as in Python's csv module: old Mac
 * spreadsheets write CR-only files, which would otherwise read as one line. */
static int csv_record(FILE *f, str_list *fields, int *line) {
  for (int i = 0; i < fields->n; i++) free(fields->items[i]);
  fields->n = 0;
  int c = fgetc(f);
  if (c == EOF) return 0;
  size_t cap = 64, len = 0;
  char *buf = vt_xmalloc(cap);
  int quoted = 0, start_line = *line;
  /* A UTF-8 byte-order mark (Excel's "CSV UTF-8") opening the file is
   * dropped here, so that a quoted first field after it is read as quoted.
   * (Not skipped before parsing: rewinding fails on a pipe manifest.) */
  int at_bom = start_line == 1;
  for (;; c = fgetc(f)) {
    if (c == '\r' && !quoted) {
      int next = fgetc(f);
      if (next != '\n') ungetc(next, f);
      c = '\n';
    }
    if (c == EOF && quoted) {
      free(buf);
      return vt_fail("line %d: unterminated quoted field", start_line);
    }
    if (at_bom && len == 3) {
      if (memcmp(buf, "\xEF\xBB\xBF", 3) == 0) len = 0;
      at_bom = 0;
    }
    if (!quoted && (c == ',' || c == '\n' || c == EOF)) {
      at_bom = 0;
      buf[len] = '\0';
      list_push(fields, buf);
      if (c != ',') {
        if (c == '\n') (*line)++;
        return fields->n;
      }
      cap = 64, len = 0;
      buf = vt_xmalloc(cap);
      continue;
    }
    if (c == '"') {
      if (quoted) {
        int next = fgetc(f);
        if (next == '"') {
          c = '"';
        } else {
          ungetc(next, f);
          quoted = 0;
          continue;
        }
      } else if (len == 0) {
        quoted = 1;
        continue;
      }
    }
    if (c == '\0') { /* C strings would cut the path there, silently */
      free(buf);
      return vt_fail("line %d: a NUL byte (not a text CSV?)", *line);
    }
    if (c == '\n') (*line)++;
    if (len + 2 > cap) buf = vt_xrealloc(buf, cap *= 2);
    buf[len++] = (char)c;
  }
}

static int find_column(const str_list *header, const char *name) {
  for (int i = 0; i < header->n; i++)
    if (strcmp(header->items[i], name) == 0) return i;
  return -1;
}

static int from_manifest(const char *csv, const char *label_col, const char *split_col, vt_inputs *in) {
  memset(in, 0, sizeof *in);
  in->source = "manifest";
  in->root = vt_xstrdup(csv);
  FILE *f = fopen(csv, "rb");
  if (!f) return vt_fail("%s: cannot open manifest: %s", csv, strerror(errno));
  struct stat st; /* a directory opens, then reads as empty */
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return vt_fail("%s: is a directory, not a manifest CSV (class folders go with --data)", csv);
  }
  str_list header = {0}, fields = {0}, paths = {0}, labels = {0}, splits = {0};
  int line = 1, rc = -1, *row_line = NULL;
  int nh = csv_record(f, &header, &line);
  if (nh <= 0) {
    if (nh == 0) vt_fail("%s: empty manifest (expected a header line with a 'path' column)", csv);
    else vt_fail_prefix("%s", csv);
    goto done;
  }
  int pcol = find_column(&header, "path");
  int lcol = label_col ? find_column(&header, label_col) : find_column(&header, "label");
  if (!label_col && lcol < 0) lcol = find_column(&header, "class");
  int scol = find_column(&header, split_col ? split_col : "split");
  if (pcol < 0) {
    vt_fail("%s: line 1: no 'path' column in the header", csv);
    goto done;
  }
  if (label_col && lcol < 0) {
    vt_fail("%s: line 1: no '%s' column in the header", csv, label_col);
    goto done;
  }
  if (split_col && scol < 0) {
    vt_fail("%s: line 1: no '%s' column in the header", csv, split_col);
    goto done;
  }
  /* Other columns but none named label or class (e.g. " label", "Label"):
   * every row is unlabelled, which the caller notes, so that a misspelt
   * header is not found only when the trainer refuses the store. */
  in->unused_columns = lcol < 0 ? header.n - 1 - (scol >= 0) : 0;
  for (;;) {
    int rec_line = line;
    int nf = csv_record(f, &fields, &line);
    if (nf == 0) break;
    if (nf < 0) {
      vt_fail_prefix("%s", csv);
      goto done;
    }
    if (nf == 1 && fields.items[0][strspn(fields.items[0], " \t")] == '\0') continue; /* blank line */
    if (nf != header.n) {
      vt_fail("%s: line %d: %d fields, the header has %d", csv, rec_line, nf, header.n);
      goto done;
    }
    if (fields.items[pcol][0] == '\0') {
      vt_fail("%s: line %d: empty path", csv, rec_line);
      goto done;
    }
    row_line = vt_xrealloc(row_line, (size_t)(paths.n + 1) * sizeof *row_line);
    row_line[paths.n] = rec_line;
    list_push(&paths, vt_xstrdup(fields.items[pcol]));
    list_push(&labels, vt_xstrdup(lcol >= 0 ? fields.items[lcol] : ""));
    list_push(&splits, vt_xstrdup(scol >= 0 ? fields.items[scol] : ""));
  }
  if (paths.n == 0) {
    vt_fail("%s: the manifest lists no images", csv);
    goto done;
  }
  int first, second;
  if (find_repeat(paths.items, paths.n, &first, &second)) {
    vt_fail("%s: line %d: path '%s' is already listed on line %d (each image may appear once)", csv,
            row_line[second], paths.items[second], row_line[first]);
    goto done;
  }
  /* Classes: sorted distinct non-empty labels. */
  char **sorted = vt_xmalloc((size_t)paths.n * sizeof *sorted);
  int ns = 0;
  for (int i = 0; i < paths.n; i++)
    if (labels.items[i][0]) sorted[ns++] = labels.items[i];
  qsort(sorted, (size_t)ns, sizeof *sorted, cmp_str);
  in->classes = vt_xmalloc((size_t)(ns ? ns : 1) * sizeof *in->classes);
  for (int i = 0; i < ns; i++)
    if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
      in->classes[in->n_classes++] = vt_xstrdup(sorted[i]);
  free(sorted);
  char *dir = vt_xstrdup(csv);
  char *slash = strrchr(dir, '/');
  if (slash) slash[0] = '\0';
  else dir[0] = '\0';
  inputs_alloc(in, paths.n);
  for (int i = 0; i < paths.n; i++) {
    in->path[i] = paths.items[i];
    in->full[i] = paths.items[i][0] == '/' ? vt_xstrdup(paths.items[i]) : join(dir, paths.items[i]);
    in->split[i] = splits.items[i];
    in->label[i] = -1;
    if (labels.items[i][0]) {
      char **hit = bsearch(&labels.items[i], in->classes, (size_t)in->n_classes,
                           sizeof *in->classes, cmp_str);
      in->label[i] = (int)(hit - in->classes);
    }
  }
  free(dir);
  free(paths.items);
  free(splits.items);
  paths = (str_list){0};
  splits = (str_list){0};
  rc = 0;
done:
  fclose(f);
  free(row_line);
  list_free(&header);
  list_free(&fields);
  list_free(&paths);
  list_free(&labels);
  list_free(&splits);
  return rc;
}

static int from_files(int n, char *const *files, vt_inputs *in) {
  memset(in, 0, sizeof *in);
  in->source = "files";
  in->root = vt_xstrdup("");
  str_list all = {0};
  for (int i = 0; i < n; i++) {
    if (is_dir(files[i])) {
      str_list sub = {0};
      if (walk(files[i], "", NULL, &sub, in) < 0) {
        list_free(&sub);
        list_free(&all);
        return -1;
      }
      for (int j = 0; j < sub.n; j++) {
        list_push(&all, join(files[i], sub.items[j]));
        free(sub.items[j]);
      }
      free(sub.items);
    } else {
      list_push(&all, vt_xstrdup(files[i]));
    }
  }
  if (all.n == 0) { /* so every name given (if any) was a folder: a file is always listed */
    list_free(&all);
    if (n == 0) return vt_fail("no image files given");
    if (n == 1) return vt_fail("%s: no image files in this folder or below", files[0]);
    return vt_fail("no image files in any of the %d folders given (%s, ...)", n, files[0]);
  }
  int first, second;
  if (find_repeat(all.items, all.n, &first, &second)) {
    vt_fail("%s is given twice (images %d and %d of the list; a directory expands to its images)",
            all.items[second], first + 1, second + 1);
    list_free(&all);
    return -1;
  }
  inputs_alloc(in, all.n);
  for (int i = 0; i < all.n; i++) {
    in->path[i] = all.items[i];
    in->full[i] = vt_xstrdup(all.items[i]);
    in->label[i] = -1;
    in->split[i] = vt_xstrdup("");
  }
  free(all.items);
  return 0;
}

/* The public entry points: on failure, nothing stays allocated. */
int vt_inputs_from_folders(const char *dir, vt_inputs *in) {
  int rc = from_folders(dir, in);
  if (rc < 0) vt_inputs_free(in);
  return rc;
}

int vt_inputs_from_manifest(const char *csv, const char *label_col, const char *split_col,
                            vt_inputs *in) {
  int rc = from_manifest(csv, label_col, split_col, in);
  if (rc < 0) vt_inputs_free(in);
  return rc;
}

int vt_inputs_from_files(int n, char *const *files, vt_inputs *in) {
  int rc = from_files(n, files, in);
  if (rc < 0) vt_inputs_free(in);
  return rc;
}

void vt_inputs_free(vt_inputs *in) {
  for (int i = 0; i < in->n; i++) {
    free(in->path[i]);
    free(in->full[i]);
    free(in->split[i]);
  }
  for (int i = 0; i < in->n_classes; i++) free(in->classes[i]);
  free(in->first_empty_class);
  free(in->first_unreadable_entry);
  free(in->path);
  free(in->full);
  free(in->label);
  free(in->split);
  free(in->classes);
  free(in->root);
  memset(in, 0, sizeof *in);
}
