/* placeholder: written in the engine-core issue */
