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
set(ZF_DUKTAPE_DIR /usr/share/duktape CACHE PATH "Debian duktape-dev source directory")
foreach(f duktape.c duktape.h duk_config.h)
    if(NOT EXISTS ${ZF_DUKTAPE_DIR}/${f})
        message(FATAL_ERROR "${ZF_DUKTAPE_DIR}/${f} not found: install duktape-dev (scripts/deps.sh)")
    endif()
endforeach()

set(ZF_DUK_BUILD ${CMAKE_CURRENT_BINARY_DIR}/duktape)
configure_file(${ZF_DUKTAPE_DIR}/duktape.c ${ZF_DUK_BUILD}/duktape.c COPYONLY)
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
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${ZF_DUKTAPE_DIR}/duk_config.h)

add_library(zf_duktape STATIC ${ZF_DUK_BUILD}/duktape.c)
target_include_directories(zf_duktape PUBLIC ${ZF_DUK_BUILD})
target_compile_options(zf_duktape PRIVATE -w -Wno-error)
target_link_libraries(zf_duktape PUBLIC m)
