/* test_feature_recipe.c: the --pool and --tap lists and the head's feature
 * recipe: comma and '+' lists, the gap/gmp aliases, tap-major order,
 * round trips through the recorded text, and the refusals (with reasons). */
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_extract.h"
#include "vt_features.h"

#include "vt_test.h"

static void test_pooling(void) {
  vt_pooling p;
  char text[256];
  CHECK(vt_pooling_parse("avg1,avg2,avg4", &p) == 0 && p.n == 3 && p.grid[2] == 4 && !p.is_max[2]);
  vt_pooling_text(&p, text, sizeof text);
  CHECK(strcmp(text, "avg1,avg2,avg4") == 0, "got '%s'", text);
  /* aliases and the older '+' form give the canonical comma text */
  CHECK(vt_pooling_parse("gap+gmp", &p) == 0 && p.n == 2 && p.is_max[1] && p.grid[1] == 1);
  vt_pooling_text(&p, text, sizeof text);
  CHECK(strcmp(text, "avg1,max1") == 0, "got '%s'", text);
  CHECK(vt_pooling_parse("max4", &p) == 0 && p.n == 1 && p.is_max[0] && p.grid[0] == 4);
  /* refusals, each with a reason naming the offending part */
  CHECK(vt_pooling_parse("avg1,median", &p) < 0 && strstr(vt_failure_reason(), "'median'"),
        "%s", vt_failure_reason());
  CHECK(vt_pooling_parse("gap,avg1", &p) < 0 && strstr(vt_failure_reason(), "repeats avg1"),
        "%s", vt_failure_reason());
  CHECK(vt_pooling_parse("avg0", &p) < 0);
  CHECK(vt_pooling_parse("avg4x", &p) < 0);
  CHECK(vt_pooling_parse(",", &p) < 0 && strstr(vt_failure_reason(), "empty"), "%s",
        vt_failure_reason());
}

static void test_taps_and_recipe(void) {
  char taps[VT_RECIPE_MAX_TAPS][VT_TAP_NAME_MAX];
  CHECK(vt_tap_names_parse("block2_pool,block1_pool", taps, VT_RECIPE_MAX_TAPS) == 2 &&
        strcmp(taps[0], "block2_pool") == 0 && strcmp(taps[1], "block1_pool") == 0,
        "taps keep the order given");
  CHECK(vt_tap_names_parse("block1_pool,,block2_pool", taps, VT_RECIPE_MAX_TAPS) < 0 &&
        strstr(vt_failure_reason(), "empty"), "%s", vt_failure_reason());
  CHECK(vt_tap_names_parse("block1_pool,block1_pool", taps, VT_RECIPE_MAX_TAPS) < 0 &&
        strstr(vt_failure_reason(), "twice"), "%s", vt_failure_reason());
  CHECK(vt_tap_names_parse("a/b", taps, VT_RECIPE_MAX_TAPS) < 0);
  /* vggtap-extract reads --tap the same way, then keeps network order */
  vt_extract_config c;
  vt_extract_config_default(&c);
  CHECK(vt_extract_parse_taps(&c, "block2_pool,block1_conv2") == 0 && c.n_taps == 2 &&
        c.taps[0] == vt_vgg16_layer_index("block1_conv2") && c.taps[1] == vt_vgg16_layer_index("block2_pool"));
  CHECK(vt_extract_parse_taps(&c, "block1_pool,,block2_pool") < 0 && strstr(vt_failure_reason(), "empty"),
        "%s", vt_failure_reason());
  /* only VGG16 layers */
  CHECK(vt_tap_names_parse("block1_pool,block9_pool", taps, VT_RECIPE_MAX_TAPS) < 0 &&
        strstr(vt_failure_reason(), "unknown tap 'block9_pool'"), "%s", vt_failure_reason());

  /* every tap with every part, tap-major, in the order given */
  vt_pooling p;
  vt_recipe r, back;
  char text[1024];
  CHECK(vt_tap_names_parse("block2_pool,block1_pool", taps, VT_RECIPE_MAX_TAPS) == 2);
  CHECK(vt_pooling_parse("max4,avg1", &p) == 0 && vt_recipe_product(taps, 2, &p, &r) == 0);
  vt_recipe_text(&r, text, sizeof text);
  CHECK(strcmp(text, "block2_pool/max4,block2_pool/avg1,block1_pool/max4,block1_pool/avg1") == 0,
        "got '%s'", text);
  char distinct[VT_RECIPE_MAX_PARTS][VT_TAP_NAME_MAX];
  CHECK(vt_recipe_taps(&r, distinct) == 2 && strcmp(distinct[0], "block2_pool") == 0);

  /* the recorded text reads back to the same recipe */
  CHECK(vt_recipe_parse(text, &back) == 0 && back.n == 4, "%s", vt_failure_reason());
  for (int i = 0; i < back.n && i < 4; i++)
    CHECK(strcmp(back.part[i].tap, r.part[i].tap) == 0 && back.part[i].grid == r.part[i].grid &&
              back.part[i].is_max == r.part[i].is_max && strcmp(back.part[i].name, r.part[i].name) == 0,
          "part %d", i);
  CHECK(vt_recipe_parse("block1_pool/avg1,block1_pool/avg1", &back) < 0 &&
        strstr(vt_failure_reason(), "twice"), "%s", vt_failure_reason());
  CHECK(vt_recipe_parse("block1_pool", &back) < 0 && strstr(vt_failure_reason(), "TAP/avgG"),
        "%s", vt_failure_reason());
  CHECK(vt_recipe_parse("/avg1", &back) < 0);
  CHECK(vt_recipe_parse("block1_pool/sum2", &back) < 0);
  CHECK(vt_recipe_parse("", &back) < 0);
}

int main(void) {
  test_pooling();
  test_taps_and_recipe();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all feature recipe checks passed\n");
  return 0;
}
