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
file(READ ${ZF_DUKTAPE_DIR}/duktape.c zf_duk_source)
set(zf_duk_step "re_ctx->steps_count++;")
string(FIND "${zf_duk_source}" "${zf_duk_step}" zf_duk_first)
string(FIND "${zf_duk_source}" "${zf_duk_step}" zf_duk_last REVERSE)
if(zf_duk_first EQUAL -1 OR NOT zf_duk_first EQUAL zf_duk_last)
    message(FATAL_ERROR "${ZF_DUKTAPE_DIR}/duktape.c: the line '${zf_duk_step}' of "
            "duk__match_regexp is missing or not unique: cannot add the regexp deadline "
            "check (see actors/duktape.cmake)")
endif()
string(REPLACE "${zf_duk_step}"
       "${zf_duk_step} ZF_DUK_REGEXP_CHECK(re_ctx->thr, re_ctx->steps_count);  /* zflow */"
       zf_duk_source "${zf_duk_source}")
file(WRITE ${ZF_DUK_BUILD}/duktape.c.tmp "${zf_duk_source}")
configure_file(${ZF_DUK_BUILD}/duktape.c.tmp ${ZF_DUK_BUILD}/duktape.c COPYONLY)
file(REMOVE ${ZF_DUK_BUILD}/duktape.c.tmp)
unset(zf_duk_source)
configure_file(${ZF_DUKTAPE_DIR}/duktape.h ${ZF_DUK_BUILD}/duktape.h COPYONLY)
file(READ ${ZF_DUKTAPE_DIR}/duk_config.h zf_duk_config)
string(FIND "${zf_duk_config}" "/* __OVERRIDE_DEFINES__ */" zf_duk_mark)
if(zf_duk_mark EQUAL -1)
    message(FATAL_ERROR "${ZF_DUKTAPE_DIR}/duk_config.h has no __OVERRIDE_DEFINES__ mark")
endif()
string(REPLACE "/* __OVERRIDE_DEFINES__ */"
       "#include \"${CMAKE_CURRENT_SOURCE_DIR}/jsvm_duk_config.h\"  /* zflow overrides */"
       zf_duk_config "${zf_duk_config}")
file(WRITE ${ZF_DUK_BUILD}/duk_config.h.tmp "${zf_duk_config}")
configure_file(${ZF_DUK_BUILD}/duk_config.h.tmp ${ZF_DUK_BUILD}/duk_config.h COPYONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${ZF_DUKTAPE_DIR}/duk_config.h ${ZF_DUKTAPE_DIR}/duktape.c)

add_library(zf_duktape STATIC ${ZF_DUK_BUILD}/duktape.c)
target_include_directories(zf_duktape PUBLIC ${ZF_DUK_BUILD})
target_compile_options(zf_duktape PRIVATE -w -Wno-error)
target_link_libraries(zf_duktape PUBLIC m)
