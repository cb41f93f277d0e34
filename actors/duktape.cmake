# actors/duktape.cmake — duktape from the source Debian's duktape-dev ships.
#
# Debian's libduktape.so is built without the execution-timeout hook, so we
# compile /usr/share/duktape/duktape.c ourselves as the static library
# zf_duktape. duktape.c and duktape.h are copied into the build directory
# (never into the repo) next to a generated duk_config.h: Debian's file with
# our actors/jsvm_duk_config.h included at its __OVERRIDE_DEFINES__ mark.
# The copy matters: a quoted #include searches the including file's own
# directory first, so compiling duktape.c in place would silently pick up
# the unpatched duk_config.h beside it. Third-party code gets its own
# relaxed warning flags so that -Werror never fails on it.
#
# The copy of duktape.c gets one patch. Duktape checks its execution
# timeout only in the bytecode executor; its regexp executor
# (duk__match_regexp) runs a whole match inside one built-in call and only
# gives up after a fixed 10^9 steps (about 10 s), so a catastrophic pattern
# such as /(?:a+)+b/ overran the `code` step's time limit by seconds. The
# patch adds ZF_DUK_REGEXP_CHECK (defined in actors/jsvm_duk_config.h)
# right after the executor's step counter increment, the one line
# `re_ctx->steps_count++;`: every 2^16 steps it asks zf_jsvm_expired
# (actors/jsvm.c) and throws a RangeError once the deadline has passed.
# The line must occur exactly once; if a duktape update moves or renames
# it, configuring fails here rather than silently losing the check.
set(ZF_DUKTAPE_DIR /usr/share/duktape CACHE PATH "Debian duktape-dev source directory")
foreach(f duktape.c duktape.h duk_config.h)
    if(NOT EXISTS ${ZF_DUKTAPE_DIR}/${f})
        message(FATAL_ERROR "${ZF_DUKTAPE_DIR}/${f} not found: install duktape-dev (scripts/deps.sh)")
    endif()
endforeach()

set(ZF_DUK_BUILD ${CMAKE_CURRENT_BINARY_DIR}/duktape)

# Copies ${ZF_DUKTAPE_DIR}/NAME into the build directory with the text MARK,
# which must occur exactly once, replaced by REPLACEMENT; fails with WHY.
# configure_file only rewrites the copy when it changed: no needless rebuild.
function(zf_duk_patch name mark replacement why)
    file(READ ${ZF_DUKTAPE_DIR}/${name} text)
    string(FIND "${text}" "${mark}" first)
    string(FIND "${text}" "${mark}" last REVERSE)
    if(first EQUAL -1 OR NOT first EQUAL last)
        message(FATAL_ERROR "${ZF_DUKTAPE_DIR}/${name}: '${mark}' is missing or not unique: "
                "${why} (see actors/duktape.cmake)")
    endif()
    string(REPLACE "${mark}" "${replacement}" text "${text}")
    file(WRITE ${ZF_DUK_BUILD}/${name}.tmp "${text}")
    configure_file(${ZF_DUK_BUILD}/${name}.tmp ${ZF_DUK_BUILD}/${name} COPYONLY)
    file(REMOVE ${ZF_DUK_BUILD}/${name}.tmp)
endfunction()

zf_duk_patch(duktape.c "re_ctx->steps_count++;"
             "re_ctx->steps_count++; ZF_DUK_REGEXP_CHECK(re_ctx->thr, re_ctx->steps_count);  /* zflow */"
             "cannot add the regexp deadline check to duk__match_regexp")
configure_file(${ZF_DUKTAPE_DIR}/duktape.h ${ZF_DUK_BUILD}/duktape.h COPYONLY)
zf_duk_patch(duk_config.h "/* __OVERRIDE_DEFINES__ */"
             "#include \"${CMAKE_CURRENT_SOURCE_DIR}/jsvm_duk_config.h\"  /* zflow overrides */"
             "cannot include our overrides")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${ZF_DUKTAPE_DIR}/duk_config.h ${ZF_DUKTAPE_DIR}/duktape.c)

add_library(zf_duktape STATIC ${ZF_DUK_BUILD}/duktape.c)
target_include_directories(zf_duktape PUBLIC ${ZF_DUK_BUILD})
target_compile_options(zf_duktape PRIVATE -w -Wno-error)
target_link_libraries(zf_duktape PUBLIC m)
