// The words the SQL editor colours, for Feldera's SQL. CodeMirror's lang-sql replaces its whole word list when
// a dialect gives keywords (and ignores a dialect's types unless it does), so the list is complete here:
// - KEYWORDS: lang-sql's standard SQL keywords, plus the grammar of Feldera's SQL
//   (https://docs.feldera.com/sql/grammar, /sql/streaming, /sql/datetime: MATERIALIZED, LATENESS, ...).
// - TYPES: Feldera's types and their aliases (https://docs.feldera.com/sql/types).
// - FUNCTIONS: every function of Feldera's function index (https://docs.feldera.com/sql/function-index),
//   aggregates included, except those that are grammar too (CASE, CAST, LEFT, ...: keywords) or types
//   (ARRAY, MAP, ROW, DATE, ...). A word in two lists takes the later: a function beats a keyword (COUNT).

const STANDARD = "absolute action add after all allocate alter and any are as asc assertion at authorization " +
  "before begin between both breadth by call cascade cascaded case cast catalog check close collate collation " +
  "column commit condition connect connection constraint constraints constructor continue corresponding count " +
  "create cross cube current current_date current_default_transform_group current_transform_group_for_type " +
  "current_path current_role current_time current_timestamp current_user cursor cycle data day deallocate " +
  "declare default deferrable deferred delete depth deref desc describe descriptor deterministic diagnostics " +
  "disconnect distinct do domain drop dynamic each else elseif end end-exec equals escape except exception exec " +
  "execute exists exit external fetch first for foreign found from free full function general get global go " +
  "goto grant group grouping handle having hold hour identity if immediate in indicator initially inner inout " +
  "input insert intersect into is isolation join key language last lateral leading leave left level like limit " +
  "local localtime localtimestamp locator loop map match method minute modifies module month names natural " +
  "nesting new next no none not of old on only open option or order ordinality out outer output overlaps pad " +
  "parameter partial path prepare preserve primary prior privileges procedure public read reads recursive redo " +
  "ref references referencing relative release repeat resignal restrict result return returns revoke right role " +
  "rollback rollup routine row rows savepoint schema scroll search second section select session session_user " +
  "set sets signal similar size some space specific specifictype sql sqlexception sqlstate sqlwarning start " +
  "state static system_user table temporary then timezone_hour timezone_minute to trailing transaction " +
  "translation treat trigger under undo union unique unnest until update usage user using value values view " +
  "when whenever where while with without work write year zone";

const FELDERA = "materialized lateness watermark interned aggregate linear type index asof apply pivot minus " +
  "ilike rlike symmetric over partition range preceding following unbounded respect ignore nulls filter within " +
  "offset contains precedes succeeds immediately explain";

export const KEYWORDS = `${STANDARD} ${FELDERA}`;

export const TYPES = "array binary bit boolean bool char character clob date datetime decimal dec numeric number " +
  "double float float4 float8 float32 float64 int integer int2 int4 int8 int64 signed unsigned interval large " +
  "national nchar nclob object precision real smallint tinyint bigint time timestamp varchar varying varbinary " +
  "bytea string text uuid variant map row geometry";

export const FUNCTIONS = "abs acos acosh arg_max arg_min array_agg array_append array_compact array_concat " +
  "array_contains array_distinct array_except array_exists array_insert array_intersect array_join array_length " +
  "array_max array_min array_position array_prepend array_remove array_repeat array_reverse array_size " +
  "array_to_string array_union arrays_overlap ascii asin asinh atan atan2 atanh avg bin2utf8 bit_and bit_or " +
  "bit_xor bool_and bool_or bround cardinality cbrt ceil char_length chr coalesce concat concat_ws " +
  "connector_metadata convert_timezone cos cosh cot coth count countif covar_pop covar_samp csc csch date_add " +
  "date_part date_sub date_trunc datediff dayofmonth degrees dense_rank div_null dow doy element every exp " +
  "extract finite_or_null first_value floor format_date format_time format_timestamp greatest " +
  "greatest_ignore_nulls grouping_id gunzip hop ifnull initcap initcap_spaces is_inf is_nan json_each_bigint " +
  "json_each_boolean json_each_date json_each_string json_each_time json_each_timestamp json_keys " +
  "json_object_keys lag last_value lead least least_ignore_nulls len length ln log log10 logical_and logical_or " +
  "lower make_date make_time make_timestamp map_concat map_contains_key map_keys map_values max md5 min mod mode " +
  "now nullif octet_length overlay parse_date parse_json parse_time parse_timestamp pi position power quarter " +
  "radians rank regexp_replace regr_count regr_sxx regr_syy repeat replace reverse round row_number safe_cast " +
  "safe_offset sec sech sequence sign sin sinh sort_array split split_part sqrt stddev stddev_pop stddev_samp " +
  "substr substring sum tan tanh time_trunc timestamp_trunc timestampadd timestampdiff to_hex to_int to_json " +
  "transform trim trunc truncate tumble typeof upper var_pop var_samp variance variant_deep_filter " +
  "variant_deep_map variant_filter variant_map variant_merge variantnull week xxhash";
