int gs_region_dummy;
