int gs_json_dummy;
