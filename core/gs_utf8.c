int gs_utf8_dummy;
